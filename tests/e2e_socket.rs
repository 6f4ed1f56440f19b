//! Bad input against the real daemon's socket: malformed JSON, unknown operations, wrong
//! versions and arguments, an oversized request, a half-closed connection, 200 concurrent
//! clients (all answered, nothing lost), a peer whose uid is not allowed, a read-only peer, and
//! a request that outlives the handler timeout (`busy`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use e2e_support::*;
use serde_json::{Value, json};
use shoptet_sync::sim::{FaultConfig, OrderSpec};

/// An imported order to write to; overselling allowed so the warehouse stock does not matter.
async fn imported_order(syncd: &Syncd, sim: &shoptet_sync::sim::SimHandle) -> String {
    sim.set_allow_oversell(true);
    let code = sim.create_order(&OrderSpec::default()).unwrap();
    syncd.sync("orders", "demo").await;
    syncd.ok("order", &["order", "get", "demo", &code]).await;
    code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_unknown_and_invalid_requests_keep_the_connection_usable() {
    let sim = start_sim(small_shop()).await;
    let syncd = Syncd::start().await;
    syncd.add_shop("demo", &sim, "MAIN").await;
    let mut raw = Raw::connect(&syncd.socket).await;

    raw.send(b"{not json\n").await;
    let response = raw.recv().await.unwrap();
    assert_eq!(code_of(&response), "invalid_argument");
    assert!(response["id"].is_null());
    assert_eq!(response["ok"], false);
    assert_eq!(response["v"], 1);
    raw.send(b"[1,2,3]\n\n   \n").await;
    assert_eq!(code_of(&raw.recv().await.unwrap()), "invalid_argument");

    for (request, needle) in [
        (
            json!({"v": 1, "id": 5, "op": "no.such.op"}),
            "unknown operation",
        ),
        (json!({"v": 2, "id": 6, "op": "daemon.status"}), "v1"),
        (json!({"id": 7, "op": "daemon.status"}), "`v`"),
        (
            json!({"v": 1, "id": 8, "op": "order.get", "args": {"integration": "demo"}}),
            "missing field `code`",
        ),
        (
            json!({"v": 1, "id": 9, "op": "stock.set",
                   "args": {"integration": "demo", "code": "A", "quantity": "1", "warehouse": "X"}}),
            "warehouse",
        ),
        (
            json!({"v": 1, "id": 10, "op": "stock.set",
                   "args": {"integration": "demo", "code": "A", "quantity": "-1"}}),
            "negative",
        ),
        (
            json!({"v": 1, "id": 11, "op": "stock.bulk_set",
                   "args": {"integration": "demo", "items": [
                       {"code": "A", "quantity": "1"}, {"code": "A", "quantity": "2"}]}}),
            "more than once",
        ),
        (
            json!({"v": 1, "id": 12, "op": "product.update_price",
                   "args": {"integration": "demo", "code": "A", "price": "-5"}}),
            "negative",
        ),
        (
            json!({"v": 1, "id": 13, "op": "daemon.backup", "args": {"path": "relative.snap"}}),
            "absolute",
        ),
        (
            json!({"v": 1, "id": 14, "op": "daemon.status", "extra": true}),
            "extra",
        ),
    ] {
        let response = raw.ask(&request).await;
        assert_eq!(
            code_of(&response),
            "invalid_argument",
            "{request}: {response}"
        );
        assert_eq!(response["id"], request["id"], "the id is echoed");
        let message = response["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{request}: {message}");
    }

    // Pipelined requests, answered in order with their ids; string ids too.
    raw.send(
        concat!(
            "{\"v\":1,\"id\":\"a\",\"op\":\"daemon.status\"}\n",
            "{\"v\":1,\"id\":\"b\",\"op\":\"integration.get\",\"args\":{\"name\":\"nope\"}}\r\n",
            "{\"v\":1,\"id\":\"c\",\"op\":\"integration.list\",\"args\":null}\n",
        )
        .as_bytes(),
    )
    .await;
    let a = raw.recv().await.unwrap();
    let b = raw.recv().await.unwrap();
    let c = raw.recv().await.unwrap();
    assert_eq!(
        (a["id"].as_str(), a["ok"].as_bool()),
        (Some("a"), Some(true))
    );
    assert_eq!(a["result"]["type"], "daemon_status");
    assert_eq!(b["id"], "b");
    assert_eq!(code_of(&b), "not_found");
    assert_eq!(c["id"], "c");
    assert_eq!(c["result"]["data"][0]["name"], "demo");

    // Credentials go in, never come out.
    let response = raw
        .ask(
            &json!({"v": 1, "id": 20, "op": "integration.update_credentials",
                     "args": {"name": "demo",
                              "credentials": {"kind": "private_token", "token": PRIVATE_TOKEN}}}),
        )
        .await;
    assert_eq!(response["result"]["data"]["credentials"], "private_token");
    assert!(!response.to_string().contains(PRIVATE_TOKEN));

    // An oversized request: refused, then that connection is closed; others are unaffected.
    let mut other = Raw::connect(&syncd.socket).await;
    let mut big =
        br#"{"v":1,"id":1,"op":"stock.bulk_set","args":{"integration":"demo","items":["#.to_vec();
    while big.len() < 1536 * 1024 {
        big.extend_from_slice(br#"{"code":"SKU-PADDING","quantity":"1"},"#);
    }
    big.extend_from_slice(b"{\"code\":\"Z\",\"quantity\":\"1\"}]}}\n");
    raw.send(&big).await;
    let response = raw.recv().await.unwrap();
    assert_eq!(code_of(&response), "invalid_argument");
    assert!(
        response["error"]["message"]
            .as_str()
            .unwrap()
            .contains("larger than")
    );
    assert!(raw.recv().await.is_none(), "the connection is closed");
    let response = other
        .ask(&json!({"v": 1, "id": 2, "op": "daemon.status"}))
        .await;
    assert_eq!(response["ok"], true);

    // A half-closed connection still gets the answer to its last, unterminated request.
    let mut half = Raw::connect(&syncd.socket).await;
    half.send(br#"{"v":1,"id":"half","op":"integration.get","args":{"name":"demo"}}"#)
        .await;
    half.close_write().await;
    let response = half.recv().await.unwrap();
    assert_eq!(response["id"], "half");
    assert_eq!(response["result"]["data"]["name"], "demo");
    assert!(half.recv().await.is_none());
    // A client that connects and leaves at once costs nothing.
    for _ in 0..5 {
        drop(
            tokio::net::UnixStream::connect(&syncd.socket)
                .await
                .unwrap(),
        );
    }
    let status = syncd.ok("daemon_status", &["status"]).await;
    assert_eq!(status["stores"][0]["name"], "demo");

    let log = syncd.log();
    assert!(!log.contains("panicked"), "{log}");
    syncd.assert_no_secrets(&[PRIVATE_TOKEN, OAUTH_TOKEN]);
    drop(syncd);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_clients_are_all_answered_and_nothing_is_lost() {
    let sim = start_sim(small_shop()).await;
    let syncd = Syncd::start().await;
    syncd.add_shop("demo", &sim, "MAIN").await;
    let code = imported_order(&syncd, &sim).await;

    let mut clients = tokio::task::JoinSet::new();
    for i in 0..200u64 {
        let socket = syncd.socket.clone();
        let code = code.clone();
        clients.spawn(async move {
            let request = match i % 4 {
                0 | 2 => json!({"v": 1, "id": i, "op": "order.add_note",
                                "args": {"integration": "demo", "code": code, "note": format!("note-{i:03}")}}),
                1 => json!({"v": 1, "id": i, "op": "daemon.status"}),
                _ => json!({"v": 1, "id": i, "op": "orders.list", "args": {"integration": "demo"}}),
            };
            let mut raw = Raw::connect(&socket).await;
            let response = raw.ask(&request).await;
            (i, response)
        });
    }
    let mut answered = 0;
    let all = tokio::time::timeout(DEADLINE, async {
        while let Some(joined) = clients.join_next().await {
            let (i, response) = joined.unwrap();
            assert_eq!(response["id"], i, "{response}");
            assert_eq!(response["ok"], true, "{response}");
            answered += 1;
        }
    })
    .await;
    assert!(
        all.is_ok(),
        "only {answered} of 200 clients were answered in time"
    );
    assert_eq!(answered, 200);

    // Every write landed exactly once.
    let order = syncd.ok("order", &["order", "get", "demo", &code]).await;
    let notes: Vec<&str> = order["notes"].as_str().unwrap().lines().collect();
    assert_eq!(notes.len(), 100, "{notes:?}");
    for i in (0..200).filter(|i| i % 2 == 0) {
        let note = format!("note-{i:03}");
        assert_eq!(notes.iter().filter(|n| **n == note).count(), 1, "{note}");
    }
    // And the daemon keeps answering.
    let status = syncd.ok("daemon_status", &["status"]).await;
    assert_eq!(status["stores"][0]["status"], "Active");
    syncd.assert_no_secrets(&[PRIVATE_TOKEN, OAUTH_TOKEN]);
    drop(syncd);
    sim.shutdown().await;
}

/// The name of the group with gid 65534 (`nogroup` or `nobody`), if the system has one.
fn overflow_group() -> Option<String> {
    let groups = std::fs::read_to_string("/etc/group").ok()?;
    groups.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 3 && fields[2] == "65534").then(|| fields[0].to_owned())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_whose_uid_is_not_allowed_is_refused_and_a_read_only_peer_cannot_change_state() {
    if std::fs::metadata("/proc/self").unwrap().uid() != 0 {
        eprintln!("skipped: running shoptetctl as other users needs root");
        return;
    }
    let Some(group) = overflow_group() else {
        eprintln!("skipped: no group with gid 65534");
        return;
    };
    // Users 65533 and 65534 reach the socket file through its group; only 65534 is allowed.
    let syncd = Syncd::start_with(Options {
        control: vec![format!("socket_group = \"{group}\"")],
        access: vec!["allowed_uids = [65534]".to_owned()],
        open_directory: true,
        ..Options::default()
    })
    .await;
    let meta = std::fs::metadata(&syncd.socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    assert_eq!(meta.gid(), 65534);

    let refused = syncd.ctl_as(65533, 65534, &["--json", "status"]).await;
    assert_eq!(refused.code, 1, "{}{}", refused.stdout, refused.stderr);
    let error = refused.json();
    assert_eq!(error["error"]["code"], "unauthorized");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("65533")
    );
    wait_for("the refusal logged", DEADLINE, || async {
        let log = syncd.log();
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("not allowed") && l.contains("65533"))
            .then_some(())
    })
    .await;

    // The allowed uid may read but not change state.
    let allowed = syncd.ctl_as(65534, 65534, &["--json", "status"]).await;
    assert_eq!(allowed.code, 0, "{}", allowed.stderr);
    assert_eq!(allowed.json()["type"], "daemon_status");
    let change = syncd
        .ctl_as(
            65534,
            65534,
            &[
                "--json",
                "integration",
                "create",
                "x",
                "--shop-url",
                "https://x.example",
            ],
        )
        .await;
    assert_eq!(change.code, 1);
    assert_eq!(change.json()["error"]["code"], "unauthorized");
    // Root (the daemon's own uid here) remains an administrator.
    let list = syncd.ok("integrations", &["integration", "list"]).await;
    assert!(list.as_array().unwrap().is_empty());
    drop(syncd);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_outlives_the_handler_timeout_is_busy_and_the_daemon_keeps_answering() {
    let sim = start_sim(small_shop()).await;
    let syncd = Syncd::start_with(Options {
        control: vec!["sync_request_timeout_secs = 1".to_owned()],
        ..Options::default()
    })
    .await;
    syncd.add_shop("demo", &sim, "MAIN").await;
    // Let the catalogue pull that activation started finish first.
    syncd.sync("products", "demo").await;
    let products_runs = |history: &Value| {
        history
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["sync_type"] == "Products")
            .count()
    };
    let before = products_runs(&syncd.ok("sync_history", &["sync", "history", "demo"]).await);
    // Every shop call now takes 1.5 s: one sync outlives the 1 s handler timeout.
    sim.set_faults(FaultConfig {
        latency_ms: 1500,
        ..FaultConfig::default()
    });
    let message = syncd
        .refused("busy", &["sync", "products", "demo", "--force"])
        .await;
    assert!(message.contains("sync.products"), "{message}");
    // Other requests are served meanwhile and after.
    let status = syncd.ok("daemon_status", &["status"]).await;
    assert_eq!(status["stores"][0]["name"], "demo");
    sim.set_faults(FaultConfig::default());
    wait_for("the timed-out sync finished anyway", DEADLINE, || async {
        let history = syncd.ok("sync_history", &["sync", "history", "demo"]).await;
        (products_runs(&history) > before).then_some(())
    })
    .await;
    syncd.assert_no_secrets(&[PRIVATE_TOKEN, OAUTH_TOKEN]);
    drop(syncd);
    sim.shutdown().await;
}
