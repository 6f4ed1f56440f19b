//! Regression test: credentials are write-only, yet a request whose `credentials` has the wrong
//! shape is refused with a message that quotes the token (returned to the client and logged at
//! debug level by the control server).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod control_double;

use shoptet_sync::control::protocol::parse_request_line;

const TOKEN: &str = "review-secret-token-0123456789";

#[test]
fn a_misshaped_credentials_argument_is_refused_without_quoting_the_token() {
    let cases = [
        // The token given directly instead of `{kind, token}`.
        format!(
            r#"{{"v":1,"id":1,"op":"integration.update_credentials","args":{{"name":"demo","credentials":"{TOKEN}"}}}}"#
        ),
        format!(
            r#"{{"v":1,"id":2,"op":"integration.create","args":{{"name":"demo","eshop_url":"https://x.myshoptet.com","credentials":"{TOKEN}"}}}}"#
        ),
    ];
    for line in cases {
        let refused =
            parse_request_line(line.as_bytes()).expect_err("a misshaped request is refused");
        assert!(
            !refused.error.message.contains(TOKEN),
            "the refusal quotes the token: {}",
            refused.error.message
        );
    }
}

#[test]
fn refusals_still_say_what_is_wrong() {
    // The credentials are the problem: a fixed message that names them and their shape.
    let line = format!(
        r#"{{"v":1,"id":3,"op":"integration.update_credentials","args":{{"name":"demo","credentials":{{"kind":"{TOKEN}","token":"x"}}}}}}"#
    );
    let refused = parse_request_line(line.as_bytes()).unwrap_err();
    assert!(!refused.error.message.contains(TOKEN), "{}", refused.error);
    assert!(
        refused.error.message.contains("`credentials`")
            && refused.error.message.contains("private_token"),
        "{}",
        refused.error
    );
    // Something else is the problem: serde's precise message, about that field.
    let line = format!(
        r#"{{"v":1,"id":4,"op":"integration.create","args":{{"name":"demo","credentials":{{"kind":"private_token","token":"{TOKEN}"}}}}}}"#
    );
    let refused = parse_request_line(line.as_bytes()).unwrap_err();
    assert!(!refused.error.message.contains(TOKEN), "{}", refused.error);
    assert!(
        refused.error.message.contains("eshop_url"),
        "{}",
        refused.error
    );
    // Well-formed credentials still parse.
    let line = format!(
        r#"{{"v":1,"id":5,"op":"integration.update_credentials","args":{{"name":"demo","credentials":{{"kind":"private_token","token":"{TOKEN}"}}}}}}"#
    );
    parse_request_line(line.as_bytes()).unwrap();
}

/// Through the server, with every log level captured: neither the response nor any log line
/// quotes the token of a misshaped request.
#[tokio::test]
async fn the_server_neither_answers_nor_logs_the_token() {
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("control.sock");
    let handler = Arc::new(control_double::MemoryHandler::default());
    let server =
        shoptet_sync::control::ControlServer::bind(shoptet_sync::control::ServerConfig::new(&path))
            .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(handler, async move {
        let _ = stopped.await;
    }));

    let stream = tokio::net::UnixStream::connect(&path).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let line = format!(
        r#"{{"v":1,"id":1,"op":"integration.update_credentials","args":{{"name":"demo","credentials":"{TOKEN}"}}}}"#
    );
    write.write_all(line.as_bytes()).await.unwrap();
    write.write_all(b"\n").await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(20),
        reader.read_line(&mut answer),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(answer.contains("invalid_argument"), "{answer}");
    assert!(
        !answer.contains(TOKEN),
        "the answer quotes the token: {answer}"
    );
    drop(write);
    let _ = stop.send(());
    task.await.unwrap().unwrap();

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("malformed control request"),
        "the log capture works: {logs}"
    );
    assert!(!logs.contains(TOKEN), "a log line quotes the token: {logs}");
}
