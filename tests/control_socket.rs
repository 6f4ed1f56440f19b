//! The control socket server against a test double handler: framing, errors, limits,
//! concurrency, access control, socket file handling and shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod control_double;

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use control_double::MemoryHandler;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use shoptet_sync::control::protocol::*;
use shoptet_sync::control::{ClientError, ControlClient, ControlServer, ServerConfig};
use shoptet_sync::domain::Secret;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const DEADLINE: Duration = Duration::from_secs(20);
const TOKEN: &str = "shptoken-4242-abcdef-SECRET";

struct TestServer {
    _dir: tempfile::TempDir,
    path: PathBuf,
    handler: Arc<MemoryHandler>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ControlError>>>,
}

impl TestServer {
    fn start(configure: impl FnOnce(&mut ServerConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.sock");
        let mut config = ServerConfig::new(&path);
        config.idle_timeout = Duration::from_secs(10);
        configure(&mut config);
        let handler = Arc::new(MemoryHandler::default());
        let server = ControlServer::bind(config).unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(handler.clone(), async move {
            let _ = stopped.await;
        }));
        Self {
            _dir: dir,
            path,
            handler,
            stop: Some(stop),
            task: Some(task),
        }
    }

    async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(DEADLINE, task)
                .await
                .expect("server stops in time")
                .unwrap()
                .unwrap();
        }
    }

    async fn client(&self) -> ControlClient {
        ControlClient::connect(&self.path)
            .await
            .unwrap()
            .with_timeout(DEADLINE)
    }

    async fn raw(&self) -> Raw {
        Raw::connect(&self.path).await
    }
}

/// A raw connection speaking lines.
struct Raw {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Raw {
    async fn connect(path: &Path) -> Self {
        let (read, writer) = UnixStream::connect(path).await.unwrap().into_split();
        Self {
            reader: BufReader::new(read),
            writer,
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.unwrap();
    }

    /// The next response line, or `None` at EOF.
    async fn recv(&mut self) -> Option<Value> {
        let mut line = String::new();
        let n = tokio::time::timeout(DEADLINE, self.reader.read_line(&mut line))
            .await
            .expect("a response in time")
            .unwrap_or(0);
        if n == 0 {
            return None;
        }
        assert!(
            line.ends_with('\n'),
            "responses end with a newline: {line:?}"
        );
        Some(serde_json::from_str(&line).unwrap())
    }

    async fn ask(&mut self, request: Value) -> Value {
        let mut bytes = serde_json::to_vec(&request).unwrap();
        bytes.push(b'\n');
        self.send(&bytes).await;
        self.recv().await.expect("a response")
    }
}

fn create_demo() -> Request {
    Request::IntegrationCreate(NewIntegration {
        name: "demo".into(),
        eshop_url: "https://demo.myshoptet.com".into(),
        api_base_url: None,
        credentials: Some(CredentialsInput {
            kind: CredentialsKind::PrivateToken,
            token: Secret::new(TOKEN),
        }),
        default_warehouse_code: Some("MAIN".into()),
        shoptet_stock_id: None,
        sync_interval_minutes: None,
        auto_order_import: None,
        auto_inventory_sync: None,
        auto_status_update: None,
        status_mapping: None,
        low_stock_threshold: None,
    })
}

fn code_of(response: &Value) -> &str {
    response["error"]["code"].as_str().unwrap_or("<none>")
}

async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn round_trip_through_the_socket_never_returns_the_token() {
    let mut server = TestServer::start(|_| {});
    let mut raw = server.raw().await;
    let created = raw
        .ask(serde_json::to_value(RequestEnvelope::new(1, create_demo())).unwrap())
        .await;
    assert_eq!(created["ok"], true, "{created}");
    assert_eq!(created["result"]["type"], "integration");
    assert_eq!(created["result"]["data"]["credentials"], "private_token");
    assert!(!created.to_string().contains(TOKEN));

    let mut client = server.client().await;
    match client.call(Request::IntegrationList {}).await.unwrap() {
        Response::Integrations(list) => {
            assert_eq!(list.len(), 1);
            assert_eq!(list[0].name, "demo");
        }
        other => panic!("unexpected {other:?}"),
    }
    let stock = client
        .call(Request::StockSet {
            integration: "demo".into(),
            code: "SKU-1".into(),
            quantity: Decimal::new(42, 0),
        })
        .await
        .unwrap();
    assert!(
        matches!(stock, Response::Stock(ref level) if level.on_hand == Decimal::new(42, 0) && level.warehouse_code == "MAIN")
    );
    let refused = client
        .call(Request::OrderGet {
            integration: "demo".into(),
            code: "404".into(),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(refused, ClientError::Refused(ref e) if e.code == ErrorCode::NotFound),
        "{refused}"
    );
    let duplicate = client.call(create_demo()).await.unwrap_err();
    assert!(matches!(duplicate, ClientError::Refused(ref e) if e.code == ErrorCode::Conflict));

    // The caller is identified from the peer credentials.
    let resolved = client
        .call(Request::ErrorResolve {
            integration: "demo".into(),
            id: uuid::Uuid::from_u128(9),
            resolution: "done".into(),
        })
        .await
        .unwrap();
    let Response::Error(entry) = resolved else {
        panic!("unexpected {resolved:?}")
    };
    let uid = std::fs::metadata("/proc/self").unwrap().uid();
    let callers = server.handler.state.lock().unwrap().callers.clone();
    assert!(callers.iter().all(|c| c.uid == uid && c.pid.is_some()));
    let expected_name = callers[0].user_name.clone();
    assert!(!expected_name.is_empty());
    assert_eq!(entry.resolved_by.as_deref(), Some(expected_name.as_str()));
    server.stop().await;
}

#[tokio::test]
async fn ids_are_echoed_and_pipelined_requests_answered_in_order() {
    let mut server = TestServer::start(|_| {});
    let mut raw = server.raw().await;
    raw.send(
        concat!(
            r#"{"v":1,"id":"alpha","op":"daemon.status"}"#,
            "\n",
            r#"{"v":1,"id":18446744073709551615,"op":"integration.list","args":{}}"#,
            "\r\n",
            "\n",
            r#"{"v":1,"id":3,"op":"order.get","args":{"integration":"nope","code":"1"}}"#,
            "\n"
        )
        .as_bytes(),
    )
    .await;
    let first = raw.recv().await.unwrap();
    assert_eq!(
        (first["id"].clone(), first["ok"].clone()),
        (json!("alpha"), json!(true))
    );
    assert_eq!(first["v"], 1);
    let second = raw.recv().await.unwrap();
    assert_eq!(second["id"], json!(u64::MAX));
    assert_eq!(second["result"]["type"], "integrations");
    let third = raw.recv().await.unwrap();
    assert_eq!(third["id"], 3);
    assert_eq!(code_of(&third), "not_found");
    assert!(third["error"]["message"].as_str().unwrap().contains("nope"));
    server.stop().await;
}

#[tokio::test]
async fn bad_requests_get_invalid_argument_and_the_connection_stays_usable() {
    let mut server = TestServer::start(|_| {});
    let mut raw = server.raw().await;
    raw.send(b"{this is not json\n").await;
    let malformed = raw.recv().await.unwrap();
    assert_eq!(code_of(&malformed), "invalid_argument");
    assert_eq!(malformed["id"], Value::Null);

    let version = raw
        .ask(json!({"v": 99, "id": 7, "op": "daemon.status"}))
        .await;
    assert_eq!(
        (code_of(&version), version["id"].clone()),
        ("invalid_argument", json!(7))
    );
    assert!(
        version["error"]["message"]
            .as_str()
            .unwrap()
            .contains("version 99")
    );

    let unknown = raw
        .ask(json!({"v": 1, "id": 8, "op": "orders.delete_all"}))
        .await;
    assert_eq!(code_of(&unknown), "invalid_argument");
    assert!(
        unknown["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown operation")
    );

    let bad_args = raw
        .ask(json!({"v": 1, "id": 9, "op": "stock.set", "args": {"integration": "demo", "code": "A", "quantity": "lots"}}))
        .await;
    assert_eq!(code_of(&bad_args), "invalid_argument");

    raw.send(&[0xff, 0xfe, b'\n']).await;
    assert_eq!(code_of(&raw.recv().await.unwrap()), "invalid_argument");

    let fine = raw
        .ask(json!({"v": 1, "id": 10, "op": "daemon.status"}))
        .await;
    assert_eq!(fine["ok"], true, "{fine}");
    // Only the valid request reached the handler.
    assert_eq!(server.handler.calls.load(Ordering::SeqCst), 1);
    server.stop().await;
}

#[tokio::test]
async fn oversized_request_is_refused_and_the_connection_closed() {
    let mut server = TestServer::start(|c| c.max_request_bytes = 4096);
    let mut raw = server.raw().await;
    let filler = "x".repeat(64 * 1024);
    let big = format!(r#"{{"v":1,"id":1,"op":"integration.get","args":{{"name":"{filler}"}}}}"#);
    raw.send(big.as_bytes()).await;
    raw.send(b"\n").await;
    let refused = raw.recv().await.expect("a refusal before the close");
    assert_eq!(code_of(&refused), "invalid_argument");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("4096")
    );
    assert!(raw.recv().await.is_none(), "closed after the refusal");
    assert_eq!(server.handler.calls.load(Ordering::SeqCst), 0);

    // A request just under the limit is fine, and the server still serves others.
    let mut raw = server.raw().await;
    let name = "n".repeat(3000);
    let answer = raw
        .ask(json!({"v":1,"id":2,"op":"integration.get","args":{"name": name}}))
        .await;
    assert_eq!(code_of(&answer), "not_found");
    server.stop().await;
}

#[tokio::test]
async fn half_closed_connection_still_gets_its_answer() {
    let mut server = TestServer::start(|_| {});
    let mut raw = server.raw().await;
    // No trailing newline: end of input ends the request.
    raw.send(br#"{"v":1,"id":"hc","op":"daemon.status"}"#).await;
    raw.writer.shutdown().await.unwrap();
    let answer = raw.recv().await.unwrap();
    assert_eq!(
        (answer["id"].clone(), answer["ok"].clone()),
        (json!("hc"), json!(true))
    );
    assert!(raw.recv().await.is_none());

    // A client that connects and closes at once costs nothing.
    let raw = server.raw().await;
    drop(raw);
    let mut client = server.client().await;
    client.call(Request::DaemonStatus {}).await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_clients_are_all_answered() {
    let mut server = TestServer::start(|c| c.max_connections = 16);
    server.client().await.call(create_demo()).await.unwrap();
    let mut tasks = Vec::new();
    for n in 0..200u32 {
        let path = server.path.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = ControlClient::connect(&path)
                .await
                .unwrap()
                .with_timeout(DEADLINE);
            let response = client
                .call(Request::StockSet {
                    integration: "demo".into(),
                    code: format!("SKU-{n}"),
                    quantity: Decimal::from(n),
                })
                .await
                .unwrap();
            let Response::Stock(level) = response else {
                panic!("unexpected {response:?}")
            };
            assert_eq!(level.product_code, format!("SKU-{n}"));
            // A second call on the same connection.
            client.call(Request::DaemonStatus {}).await.unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    {
        let state = server.handler.state.lock().unwrap();
        assert_eq!(state.stock.len(), 200, "no request lost");
        for n in 0..200u32 {
            assert_eq!(
                state.stock[&("demo".to_owned(), format!("SKU-{n}"))],
                Decimal::from(n)
            );
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn silent_and_slow_clients_do_not_block_others() {
    let mut server = TestServer::start(|c| c.max_connections = 4);
    // One client says nothing, one sends half a request and stalls.
    let _silent = server.raw().await;
    let mut stalled = server.raw().await;
    stalled.send(br#"{"v":1,"id":1,"op":"dae"#).await;
    for n in 0..10 {
        let mut client = server.client().await;
        client
            .call(Request::DaemonStatus {})
            .await
            .unwrap_or_else(|e| panic!("call {n}: {e}"));
    }
    server.stop().await;
}

#[tokio::test]
async fn idle_connections_are_closed_so_waiting_clients_get_served() {
    // One slot, held by a silent client: the next client is served once the idle timeout frees it.
    // No reserve: an administrator too waits for a slot when all are taken.
    let mut server = TestServer::start(|c| {
        c.max_connections = 1;
        c.admin_reserved_connections = 0;
        c.idle_timeout = Duration::from_millis(300);
    });
    let mut silent = server.raw().await;
    let started = Instant::now();
    let mut client = server.client().await;
    client.call(Request::DaemonStatus {}).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "served only after the silent client timed out"
    );
    assert!(
        silent.recv().await.is_none(),
        "the silent client was disconnected"
    );
    server.stop().await;
}

/// A client trickling a request line byte by byte is cut once the line is late, long before the
/// idle timeout (issue 9, finding 7).
#[tokio::test]
async fn a_request_line_trickled_byte_by_byte_is_cut() {
    let mut server = TestServer::start(|c| {
        c.idle_timeout = Duration::from_secs(10);
        c.request_line_timeout = Duration::from_millis(300);
    });
    let mut trickle = server.raw().await;
    let started = Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_millis(50));
    trickle.send(b"{").await;
    let closed = loop {
        ticks.tick().await;
        if trickle.writer.write_all(b" ").await.is_err() {
            break true;
        }
        let mut probe = [0u8; 1];
        match tokio::time::timeout(Duration::from_millis(1), trickle.reader.read(&mut probe)).await
        {
            Ok(Ok(0) | Err(_)) => break true,
            Ok(Ok(_)) => panic!("a partial line gets no answer"),
            Err(_) => {}
        }
        if started.elapsed() > Duration::from_secs(5) {
            break false;
        }
    };
    assert!(
        closed,
        "a connection trickling one request line was never cut"
    );
    // A prompt client on the same server is unaffected.
    let mut client = server.client().await;
    client.call(Request::DaemonStatus {}).await.unwrap();
    server.stop().await;
}

/// A read-only user holding all the connections one uid may hold is refused further ones with
/// `busy` at once (not queued behind its own idle connections); a freed slot is usable again.
#[tokio::test]
async fn a_reader_is_limited_per_uid_and_refused_at_once() {
    let own_uid = std::fs::metadata("/proc/self").unwrap().uid();
    let mut server = TestServer::start(|c| {
        c.always_allow_root = false;
        c.always_allow_own_uid = false;
        c.access.allowed_uids = [own_uid].into();
        c.max_connections_per_uid = 2;
        c.idle_timeout = Duration::from_secs(10);
    });
    let mut first = server.raw().await;
    let _second = server.raw().await;
    // Both are admitted (they answer), so the third one is over the limit.
    let status = json!({"v": 1, "id": 1, "op": "daemon.status", "args": {}});
    assert_eq!(first.ask(status.clone()).await["ok"], json!(true));
    let mut third = server.raw().await;
    let refusal = tokio::time::timeout(Duration::from_secs(2), third.recv())
        .await
        .expect("refused at once, not queued")
        .expect("a refusal line");
    assert_eq!(refusal["error"]["code"], json!("busy"), "{refusal}");
    assert!(
        refusal["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("uid {own_uid}")),
        "{refusal}"
    );
    assert!(third.recv().await.is_none(), "then closed");
    drop(first);
    let started = Instant::now();
    loop {
        let mut again = server.raw().await;
        // A refusal comes at once; an admitted connection says nothing until asked.
        if tokio::time::timeout(Duration::from_millis(300), again.recv())
            .await
            .is_err()
        {
            assert_eq!(again.ask(status.clone()).await["ok"], json!(true));
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the freed slot never came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.stop().await;
}

/// A client that only ever sends blank lines is idle: it is disconnected after the idle timeout
/// like a silent one, instead of holding its slot forever.
#[tokio::test]
async fn blank_lines_do_not_keep_a_connection_alive() {
    let mut server = TestServer::start(|c| c.idle_timeout = Duration::from_millis(300));
    let mut trickle = server.raw().await;
    let started = Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_millis(50));
    let closed = loop {
        ticks.tick().await;
        if trickle.writer.write_all(b"\n").await.is_err() {
            break true;
        }
        let mut probe = [0u8; 1];
        match tokio::time::timeout(Duration::from_millis(1), trickle.reader.read(&mut probe)).await
        {
            Ok(Ok(0) | Err(_)) => break true,
            Ok(Ok(_)) => panic!("blank lines get no answer"),
            Err(_) => {}
        }
        if started.elapsed() > Duration::from_secs(5) {
            break false;
        }
    };
    assert!(
        closed,
        "a connection sending only blank lines was never closed"
    );
    assert!(started.elapsed() >= Duration::from_millis(250));
    // A real request restarts the idle timer: answered, then closed only after a new silence.
    let mut client = server.client().await;
    client.call(Request::DaemonStatus {}).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn handler_timeout_gives_busy_and_a_panic_gives_internal() {
    let mut server = TestServer::start(|c| {
        c.handler_timeout = Duration::from_millis(200);
        c.long_handler_timeout = Duration::from_millis(200);
    });
    let mut client = server.client().await;
    let busy = client
        .call(Request::SyncFull {
            integration: "demo".into(),
            force: true,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(busy, ClientError::Refused(ref e) if e.code == ErrorCode::Busy),
        "{busy}"
    );
    let panicked = client
        .call(Request::SyncPrices {
            integration: "demo".into(),
            force: false,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(panicked, ClientError::Refused(ref e) if e.code == ErrorCode::Internal),
        "{panicked}"
    );
    client.call(Request::DaemonStatus {}).await.unwrap();
    server.stop().await;
}

/// Syncs may take minutes: they get the long handler timeout, not the ordinary one.
#[tokio::test]
async fn long_running_operations_get_the_long_handler_timeout() {
    let mut server = TestServer::start(|c| {
        c.handler_timeout = Duration::from_millis(100);
        c.long_handler_timeout = Duration::from_millis(700);
    });
    let mut client = server.client().await;
    let started = Instant::now();
    let busy = client
        .call(Request::SyncFull {
            integration: "demo".into(),
            force: true,
        })
        .await
        .unwrap_err();
    let waited = started.elapsed();
    let ClientError::Refused(error) = busy else {
        panic!("unexpected {busy}")
    };
    assert_eq!(error.code, ErrorCode::Busy);
    assert!(error.message.contains("0.7 s"), "{error}");
    assert!(
        waited >= Duration::from_millis(700),
        "answered `busy` after {waited:?}, before the long timeout"
    );
    // Ordinary operations keep the ordinary bound.
    assert!(!Request::DaemonStatus {}.is_long_running());
    for long in [
        Request::SyncOrders {
            integration: "demo".into(),
            force: false,
        },
        Request::IntegrationActivate {
            name: "demo".into(),
        },
    ] {
        assert!(long.is_long_running(), "{}", long.op_name());
    }
    server.stop().await;
}

#[tokio::test]
async fn peers_not_in_the_allowed_set_are_refused() {
    let own_uid = std::fs::metadata("/proc/self").unwrap().uid();
    let mut server = TestServer::start(|c| {
        c.always_allow_root = false;
        c.always_allow_own_uid = false;
        c.access.allowed_uids = [own_uid.wrapping_add(4242)].into();
        c.access.allowed_gids = [4_000_000_000].into();
    });
    let mut raw = server.raw().await;
    let refusal = raw.recv().await.expect("one refusal");
    assert_eq!(code_of(&refusal), "unauthorized");
    assert!(
        refusal["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("uid {own_uid}"))
    );
    assert!(raw.recv().await.is_none(), "then the connection is closed");

    let mut client = server.client().await;
    let refused = client.call(Request::DaemonStatus {}).await.unwrap_err();
    assert!(
        matches!(refused, ClientError::Refused(ref e) if e.code == ErrorCode::Unauthorized),
        "{refused}"
    );
    assert_eq!(server.handler.calls.load(Ordering::SeqCst), 0);
    server.stop().await;
}

#[tokio::test]
async fn state_changes_can_be_limited_to_admins() {
    let own_uid = std::fs::metadata("/proc/self").unwrap().uid();
    let mut server = TestServer::start(|c| {
        c.always_allow_root = false;
        c.always_allow_own_uid = false;
        c.access.allowed_uids = [own_uid].into();
        c.access.admin_uids = [own_uid.wrapping_add(1)].into();
    });
    let mut client = server.client().await;
    client.call(Request::IntegrationList {}).await.unwrap();
    let refused = client.call(create_demo()).await.unwrap_err();
    let ClientError::Refused(error) = refused else {
        panic!("unexpected {refused}")
    };
    assert_eq!(error.code, ErrorCode::Unauthorized);
    assert!(error.message.contains("integration.create"), "{error}");
    // The connection stays usable after the refusal.
    client.call(Request::DaemonStatus {}).await.unwrap();
    assert!(server.handler.state.lock().unwrap().integrations.is_empty());
    server.stop().await;

    let mut server = TestServer::start(|c| {
        c.always_allow_root = false;
        c.always_allow_own_uid = false;
        c.access.allowed_uids = [own_uid].into();
        c.access.admin_uids = [own_uid].into();
    });
    server.client().await.call(create_demo()).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn socket_file_mode_group_stale_removal_and_cleanup() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("control.sock");
    // A stale socket left by a crashed daemon.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(
        std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_socket()
    );
    let own_gid = std::fs::metadata("/proc/self").unwrap().gid();
    let mut config = ServerConfig::new(&path);
    config.group = Some(own_gid.to_string());
    let server = ControlServer::bind(config.clone()).unwrap();
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    assert_eq!(meta.gid(), own_gid);

    // While it listens, a second daemon refuses to steal the socket.
    let second = ControlServer::bind(config.clone()).unwrap_err();
    assert_eq!(second.code, ErrorCode::Conflict);
    assert!(second.message.contains("already running"), "{second}");

    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(Arc::new(MemoryHandler::default()), async move {
        let _ = stopped.await;
    }));
    ControlClient::connect(&path)
        .await
        .unwrap()
        .call(Request::DaemonStatus {})
        .await
        .unwrap();
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    assert!(!path.exists(), "the socket file is removed at shutdown");

    // Anything that is not a socket is left alone.
    std::fs::write(&path, b"precious").unwrap();
    let refused = ControlServer::bind(config.clone()).unwrap_err();
    assert_eq!(refused.code, ErrorCode::Conflict);
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");

    // An unknown group is refused and leaves no socket behind.
    std::fs::remove_file(&path).unwrap();
    config.group = Some("no-such-group-shoptet-sync".into());
    let refused = ControlServer::bind(config).unwrap_err();
    assert!(
        refused.message.contains("no-such-group-shoptet-sync"),
        "{refused}"
    );
    assert!(!path.exists());
}

#[tokio::test]
async fn shutdown_stops_accepting_and_finishes_in_flight_requests() {
    let mut server = TestServer::start(|_| {});
    let mut busy = server.client().await;
    let mut idle = server.raw().await;
    let in_flight = tokio::spawn(async move {
        busy.call(Request::SyncOrders {
            integration: "demo".into(),
            force: false,
        })
        .await
    });
    let handler = server.handler.clone();
    wait_until("the sync to reach the handler", || {
        handler.gate_entered.load(Ordering::SeqCst)
    })
    .await;
    let stop = server.stop.take().unwrap();
    stop.send(()).unwrap();
    let path = server.path.clone();
    wait_until("the socket file to go", || !path.exists()).await;
    assert!(
        UnixStream::connect(&server.path).await.is_err(),
        "no longer accepting"
    );
    assert!(idle.recv().await.is_none(), "idle connections are closed");
    // The in-flight request still gets its answer.
    server.handler.gate.notify_one();
    let answer = tokio::time::timeout(DEADLINE, in_flight)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(answer, Response::Sync(ref r) if r.records == 3));
    server.stop().await;
}
