//! A request body that fails with S3's `RequestTimeout` (400) when no data arrives for a
//! while: a client that opens an upload and then stalls holds a connection, a descriptor and
//! a staging file only that long.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use s3s::{S3Error, S3ErrorCode};

/// The body error a stalled upload ends with.
pub fn request_timeout() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::RequestTimeout,
        "Your socket connection to the server was not read from or written to within the timeout period. \
         Idle connections will be closed.",
    )
}

/// The error a stalled body ends with; [`crate::errors::body_error`] answers it with
/// [`request_timeout`], wherever in an error's chain s3s or the engine leaves it.
#[derive(Debug, thiserror::Error)]
#[error("{IDLE_BODY_MESSAGE}")]
pub struct BodyIdle;

/// [`BodyIdle`]'s text, recognisable when a wrapper keeps only the text.
pub const IDLE_BODY_MESSAGE: &str = "request body idle past its timeout (RequestTimeout)";

/// `inner`, failing once it has been idle for `timeout`.
pub struct IdleBody<B> {
    inner: B,
    timeout: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl<B> IdleBody<B> {
    pub fn new(inner: B, timeout: Duration) -> IdleBody<B> {
        IdleBody { inner, timeout, timer: Box::pin(tokio::time::sleep(timeout)) }
    }
}

impl<B> Body for IdleBody<B>
where
    B: Body + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = B::Data;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, Self::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                let deadline = tokio::time::Instant::now() + self.timeout;
                self.timer.as_mut().reset(deadline);
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => match self.timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyIdle)))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::BodyExt as _;

    #[tokio::test]
    async fn a_stalled_body_times_out() {
        use futures::StreamExt as _;
        // One frame, then a client that sends nothing more and never closes.
        let first = Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from_static(b"first")));
        let frames = futures::stream::iter([first]).chain(futures::stream::pending());
        let mut body = IdleBody::new(http_body_util::StreamBody::new(frames), Duration::from_millis(50));
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), Bytes::from_static(b"first"));
        let err = body.frame().await.unwrap().unwrap_err();
        assert_eq!(crate::errors::body_error(err).code(), &S3ErrorCode::RequestTimeout);
    }
}
