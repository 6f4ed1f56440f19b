//! A client of the control socket, used by shoptetctl and the tests.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use super::protocol::{
    ControlError, Request, RequestEnvelope, RequestId, Response, ResponseEnvelope,
};

/// Largest response line the client accepts (a big page of products is a few MiB).
const MAX_RESPONSE_BYTES: u64 = 256 * 1024 * 1024;
/// Connection attempts retried while the daemon's listen backlog is full.
const CONNECT_RETRIES: u32 = 40;
const CONNECT_RETRY_DELAY: Duration = Duration::from_millis(50);
/// Default bound on connecting.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default bound on waiting for the answer to an ordinary request: above the daemon's own bound
/// (`control.request_timeout_secs`, default 30 s), so the daemon's `busy` normally comes first.
pub const DEFAULT_ANSWER_TIMEOUT: Duration = Duration::from_secs(120);
/// The same for long-running operations (syncs, activation, backup), whose daemon-side bound
/// is `control.sync_request_timeout_secs` (default 3600 s).
pub const DEFAULT_LONG_ANSWER_TIMEOUT: Duration = Duration::from_secs(3600 + 120);

/// Why a call did not produce a result.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket could not be reached (missing, refused, no permission).
    #[error("cannot connect to {}: {source}", path.display())]
    Connect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The connection failed or closed mid-call.
    #[error("control connection failed: {0}")]
    Io(#[from] std::io::Error),
    /// The daemon answered with something that is not a valid response.
    #[error("invalid response from the daemon: {0}")]
    Protocol(String),
    /// The daemon did not answer in time.
    #[error("the daemon did not answer within {0:?}")]
    Timeout(Duration),
    /// The daemon refused the request.
    #[error("{0}")]
    Refused(ControlError),
}

/// One connection to the daemon; calls are sequential.
#[derive(Debug)]
pub struct ControlClient {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    next_id: u64,
    timeout: Option<Duration>,
}

impl ControlClient {
    /// Connects to the socket at `path`, giving up after [`DEFAULT_CONNECT_TIMEOUT`].
    pub async fn connect(path: impl AsRef<Path>) -> Result<Self, ClientError> {
        Self::connect_within(path, DEFAULT_CONNECT_TIMEOUT).await
    }

    /// Connects to the socket at `path`, giving up after `limit`.
    pub async fn connect_within(
        path: impl AsRef<Path>,
        limit: Duration,
    ) -> Result<Self, ClientError> {
        tokio::time::timeout(limit, Self::connect_unbounded(path.as_ref()))
            .await
            .map_err(|_| ClientError::Timeout(limit))?
    }

    async fn connect_unbounded(path: &Path) -> Result<Self, ClientError> {
        // A full listen backlog (daemon at its connection bound) refuses with EAGAIN instead of
        // queueing: retry briefly before reporting the daemon unreachable.
        let mut attempts = 0;
        let stream = loop {
            match UnixStream::connect(path).await {
                Ok(stream) => break stream,
                Err(source)
                    if source.kind() == std::io::ErrorKind::WouldBlock
                        && attempts < CONNECT_RETRIES =>
                {
                    attempts += 1;
                    tokio::time::sleep(CONNECT_RETRY_DELAY).await;
                }
                Err(source) => {
                    return Err(ClientError::Connect {
                        path: path.to_owned(),
                        source,
                    });
                }
            }
        };
        let (read, writer) = stream.into_split();
        Ok(Self {
            reader: BufReader::new(read),
            writer,
            next_id: 1,
            timeout: None,
        })
    }

    /// Gives up on every call after `timeout`. Without it a call waits at most
    /// [`DEFAULT_ANSWER_TIMEOUT`], or [`DEFAULT_LONG_ANSWER_TIMEOUT`] for long-running operations.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sends one request and returns its result, or the daemon's refusal as
    /// [`ClientError::Refused`].
    pub async fn call(&mut self, request: Request) -> Result<Response, ClientError> {
        let id = RequestId::Number(self.next_id);
        self.next_id += 1;
        let envelope = self
            .exchange(RequestEnvelope::new(id.clone(), request))
            .await?;
        // A refusal sent before the request was read (unauthorized peer) carries no id.
        if envelope.id.is_some() && envelope.id.as_ref() != Some(&id) {
            return Err(ClientError::Protocol(format!(
                "response id {:?} does not match request id {id:?}",
                envelope.id
            )));
        }
        envelope.into_result().map_err(ClientError::Refused)
    }

    /// Sends one envelope and reads one response envelope, without interpreting it.
    pub async fn exchange(
        &mut self,
        envelope: RequestEnvelope,
    ) -> Result<ResponseEnvelope, ClientError> {
        let mut line = serde_json::to_vec(&envelope)
            .map_err(|e| ClientError::Protocol(format!("cannot encode the request: {e}")))?;
        line.push(b'\n');
        let limit = self
            .timeout
            .unwrap_or(if envelope.request.is_long_running() {
                DEFAULT_LONG_ANSWER_TIMEOUT
            } else {
                DEFAULT_ANSWER_TIMEOUT
            });
        let exchange = async {
            // The daemon may refuse and close before reading (unauthorized peer): its answer is
            // still readable, so a failed write is reported only when no answer follows.
            let written = self.writer.write_all(&line).await;
            let answer = self.read_response().await;
            match (written, answer) {
                (_, Ok(response)) => Ok(response),
                (Err(error), Err(_)) => Err(ClientError::Io(error)),
                (Ok(()), Err(error)) => Err(error),
            }
        };
        tokio::time::timeout(limit, exchange)
            .await
            .map_err(|_| ClientError::Timeout(limit))?
    }

    async fn read_response(&mut self) -> Result<ResponseEnvelope, ClientError> {
        let mut buffer = Vec::new();
        let read = (&mut self.reader)
            .take(MAX_RESPONSE_BYTES)
            .read_until(b'\n', &mut buffer)
            .await?;
        if read == 0 {
            return Err(ClientError::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the daemon closed the connection without answering",
            )));
        }
        if buffer.last() != Some(&b'\n') {
            return Err(ClientError::Protocol("truncated response line".to_owned()));
        }
        serde_json::from_slice(&buffer).map_err(|e| ClientError::Protocol(e.to_string()))
    }
}
