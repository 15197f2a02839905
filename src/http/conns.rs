//! The connections being served: which are idle, and closing the idlest to make room when a
//! new connection that has sent its request arrives at `server.max_connections`.
//!
//! An idle connection costs a few KB (under 2 KB before its first request, 13 KB between
//! keep-alive requests, most of it hyper's read and write buffers), so a flood of them is
//! cheap to hold but must not lock readers out. A connection is *idle* when no request on it
//! is being answered and no answer is waiting on a slow reader: it has sent nothing yet, is
//! part way through a request head, or is a keep-alive connection between requests. At the
//! limit, a new connection waits (holding no place) for its first byte; then the idlest
//! connection holding a place (the longest since it last sent or received a byte) is asked to
//! close, and the new connection takes the freed place. A connection answering a request is
//! never cut: asked to close while busy, it finishes the answer first.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use atomic_waker::AtomicWaker;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Milliseconds on the monotonic clock: the clock of "last active". Every read and write of
/// every connection reads it, and choosing the idlest connection needs no finer grain than
/// the coarse clock's (a few milliseconds), which the kernel keeps in memory it shares with
/// the process: a load, not a clock read.
fn now_ms() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::MonotonicCoarse);
    (now.tv_sec as u64).saturating_mul(1000) + (now.tv_nsec as u64) / 1_000_000
}

/// [`Activity::waiting`]: nothing sent yet.
const SILENT: u8 = 0;
/// [`Activity::waiting`]: the client has sent its first byte.
const SPOKE: u8 = 1;
/// [`Activity::waiting`]: asked to leave the waiting room before it sent anything.
const SENT_AWAY: u8 = 2;
/// [`Activity::waiting`]: left the waiting room on its own, having sent nothing.
const LEFT: u8 = 3;

/// What the accept loop and a connection's task share about that connection.
#[derive(Debug)]
pub struct Activity {
    /// When a byte was last read from or written to the socket ([`now_ms`]).
    last_active: AtomicU64,
    /// Requests whose answer is not yet handed over to the socket.
    answering: AtomicU32,
    /// A write is waiting for the client to read.
    write_blocked: AtomicBool,
    /// The connection has ended.
    closed: AtomicBool,
    /// The connection holds one of the `server.max_connections` places.
    seated: AtomicBool,
    /// In the waiting room: [`SILENT`], then [`SPOKE`] or [`SENT_AWAY`], whichever comes
    /// first (the two cannot both happen).
    waiting: AtomicU8,
    /// The connection was asked to close to make room.
    shed_asked: AtomicBool,
    /// The server is shutting down.
    stop_asked: AtomicBool,
    /// The connection's task, woken when it is asked to close. One registration checked by
    /// each poll, not a shared notification list: a connection's task is polled twice for
    /// every request.
    waker: AtomicWaker,
}

/// Why a connection is asked to close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseRequest {
    /// To give its place to a new connection (or, in the waiting room, its seat).
    MakeRoom,
    /// The server is shutting down.
    Shutdown,
}

impl Activity {
    fn new(seated: bool) -> Activity {
        Activity {
            last_active: AtomicU64::new(now_ms()),
            answering: AtomicU32::new(0),
            write_blocked: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            seated: AtomicBool::new(seated),
            waiting: AtomicU8::new(SILENT),
            shed_asked: AtomicBool::new(false),
            stop_asked: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        }
    }

    /// No answer in progress: nothing is lost by closing the connection now.
    pub fn is_idle(&self) -> bool {
        self.answering.load(Ordering::Acquire) == 0 && !self.write_blocked.load(Ordering::Acquire)
    }

    /// Records that the connection holds a place: it may be asked to give it up.
    pub fn seat(&self) {
        self.seated.store(true, Ordering::Release);
    }

    /// Records that the client has sent its first byte; false if the connection was sent
    /// away from the waiting room first.
    pub fn spoke(&self) -> bool {
        self.waiting
            .compare_exchange(SILENT, SPOKE, Ordering::AcqRel, Ordering::Acquire)
            .map_or_else(|state| state == SPOKE, |_| true)
    }

    /// Records that the connection gives up its seat in the waiting room; false if it was
    /// sent away, whose seat the one who sent it away has given up already.
    pub fn leave_waiting(&self) -> bool {
        match self
            .waiting
            .compare_exchange(SILENT, LEFT, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(state) => state != SENT_AWAY,
        }
    }

    /// Asks a connection of the waiting room to close if it has sent nothing yet.
    fn send_away_if_silent(&self) -> bool {
        let sent = self
            .waiting
            .compare_exchange(SILENT, SENT_AWAY, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if sent {
            self.waker.wake();
        }
        sent
    }

    /// Why the connection is asked to close, if it is; otherwise the task of `cx` is woken
    /// when it is.
    pub fn poll_close_request(&self, cx: &mut Context<'_>) -> Option<CloseRequest> {
        // Registered before the flags are read, so a request made in between still wakes it.
        self.waker.register(cx.waker());
        if self.shed_asked.load(Ordering::Acquire)
            || self.waiting.load(Ordering::Acquire) == SENT_AWAY
        {
            Some(CloseRequest::MakeRoom)
        } else if self.stop_asked.load(Ordering::Acquire) {
            Some(CloseRequest::Shutdown)
        } else {
            None
        }
    }

    /// Completes when the connection is asked to close, saying why.
    pub async fn close_requested(&self) -> CloseRequest {
        std::future::poll_fn(|cx| match self.poll_close_request(cx) {
            Some(request) => Poll::Ready(request),
            None => Poll::Pending,
        })
        .await
    }

    /// Marks the start of an answer; the answer is over when the returned guard is dropped
    /// (see [`TrackedBody`]).
    pub fn answering(self: &Arc<Self>) -> AnswerGuard {
        self.answering.fetch_add(1, Ordering::AcqRel);
        AnswerGuard(self.clone())
    }

    fn touch(&self) {
        self.last_active.store(now_ms(), Ordering::Relaxed);
    }
}

/// Held while a request is being answered.
#[derive(Debug)]
pub struct AnswerGuard(Arc<Activity>);

impl Drop for AnswerGuard {
    fn drop(&mut self) {
        self.0.touch();
        self.0.answering.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Marks the connection closed when its task ends, however it ends.
#[derive(Debug)]
pub struct ClosedOnDrop(pub Arc<Activity>);

impl Drop for ClosedOnDrop {
    fn drop(&mut self) {
        self.0.closed.store(true, Ordering::Release);
    }
}

/// The connections of one listener.
#[derive(Debug, Default)]
pub struct Registry {
    conns: Vec<Arc<Activity>>,
    /// Length at which ended connections are next dropped from `conns`.
    prune_at: usize,
}

impl Registry {
    /// Records a new connection, holding a place or not.
    pub fn register(&mut self, seated: bool) -> Arc<Activity> {
        // Ended connections are dropped from the list once it holds twice as many entries as
        // were left by the last pruning: amortized constant time per connection.
        if self.conns.len() >= self.prune_at {
            self.prune();
        }
        let activity = Arc::new(Activity::new(seated));
        self.conns.push(activity.clone());
        activity
    }

    /// Asks up to `count` idle connections that hold a place to close, the longest idle first.
    /// Returns how many were asked. Linear in the number of connections.
    pub fn shed_idlest(&mut self, count: usize) -> usize {
        self.ask_to_close(count, |c| c.seated.load(Ordering::Acquire) && c.is_idle())
    }

    fn ask_to_close(&mut self, count: usize, eligible: impl Fn(&Activity) -> bool) -> usize {
        self.prune();
        let mut candidates: Vec<(u64, usize)> = self
            .conns
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.shed_asked.load(Ordering::Acquire) && eligible(c))
            .map(|(i, c)| (c.last_active.load(Ordering::Relaxed), i))
            .collect();
        let count = count.min(candidates.len());
        if count == 0 {
            return 0;
        }
        if count < candidates.len() {
            candidates.select_nth_unstable(count - 1);
        }
        for &(_, i) in &candidates[..count] {
            let conn = &self.conns[i];
            conn.shed_asked.store(true, Ordering::Release);
            conn.waker.wake();
        }
        count
    }

    /// Asks every connection to close at shutdown: idle ones at once, busy ones once their
    /// answer is sent.
    pub fn stop_all(&mut self) {
        self.prune();
        for conn in &self.conns {
            conn.stop_asked.store(true, Ordering::Release);
            conn.waker.wake();
        }
    }

    fn prune(&mut self) {
        self.conns.retain(|c| !c.closed.load(Ordering::Acquire));
        self.prune_at = (self.conns.len() * 2).max(64);
    }
}

/// The waiting room in the order connections entered it, kept by the accept loop alone.
#[derive(Debug, Default)]
pub struct WaitingLine {
    line: VecDeque<Arc<Activity>>,
    /// Length at which those no longer waiting are next dropped from `line`.
    prune_at: usize,
}

impl WaitingLine {
    /// Adds a connection that has just entered the waiting room.
    pub fn push(&mut self, activity: Arc<Activity>) {
        // Those that spoke or closed leave the line when it has doubled since the last
        // pruning: amortized constant time per connection.
        if self.line.len() >= self.prune_at {
            self.line.retain(|c| {
                !c.closed.load(Ordering::Acquire) && c.waiting.load(Ordering::Acquire) == SILENT
            });
            self.prune_at = (self.line.len() * 2).max(64);
        }
        self.line.push_back(activity);
    }

    /// Asks the connection that has waited longest without sending anything to close; true
    /// if one was asked, whose seat the caller then gives up for it.
    /// Amortized constant time: each connection leaves the line once.
    pub fn send_away_oldest(&mut self) -> bool {
        while let Some(oldest) = self.line.pop_front() {
            if !oldest.closed.load(Ordering::Acquire) && oldest.send_away_if_silent() {
                return true;
            }
        }
        false
    }
}

/// A socket that records when bytes pass and whether a write is waiting on the client.
#[derive(Debug)]
pub struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Tracked<S> {
    pub fn new(inner: S, activity: Arc<Activity>) -> Tracked<S> {
        Tracked { inner, activity }
    }

    fn note_write<T>(&self, poll: &Poll<std::io::Result<T>>, wrote: bool) {
        match poll {
            Poll::Pending => self.activity.write_blocked.store(true, Ordering::Release),
            Poll::Ready(_) => {
                self.activity.write_blocked.store(false, Ordering::Release);
                if wrote {
                    self.activity.touch();
                }
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(poll, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.note_write(&poll, true);
        poll
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.note_write(&poll, true);
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.note_write(&poll, false);
        poll
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A response body that keeps its connection counted as answering until hyper has taken all
/// of it (hyper drops the body once it has the last bytes).
#[derive(Debug)]
pub struct TrackedBody {
    inner: Full<Bytes>,
    _answering: AnswerGuard,
}

impl TrackedBody {
    pub fn new(inner: Full<Bytes>, answering: AnswerGuard) -> TrackedBody {
        TrackedBody {
            inner,
            _answering: answering,
        }
    }
}

impl Body for TrackedBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
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

    #[test]
    fn sheds_the_longest_idle_and_never_one_answering() {
        let mut registry = Registry::default();
        let a = registry.register(true);
        let b = registry.register(true);
        let c = registry.register(true);
        let waiting = registry.register(false);
        a.last_active.store(10, Ordering::Relaxed);
        b.last_active.store(5, Ordering::Relaxed);
        c.last_active.store(1, Ordering::Relaxed);
        waiting.last_active.store(0, Ordering::Relaxed);
        let _busy = c.answering();
        assert_eq!(registry.shed_idlest(1), 1);
        assert!(
            b.shed_asked.load(Ordering::Acquire),
            "the idlest idle one is asked first"
        );
        assert!(!a.shed_asked.load(Ordering::Acquire));
        assert!(
            !c.shed_asked.load(Ordering::Acquire),
            "an answering one is never asked"
        );
        assert_eq!(registry.shed_idlest(5), 1, "only a is left to ask");
        assert!(
            !waiting.shed_asked.load(Ordering::Acquire),
            "one holding no place frees none"
        );
        assert!(a.shed_asked.load(Ordering::Acquire));
        assert_eq!(registry.shed_idlest(5), 0, "nobody is asked twice");
    }

    #[test]
    fn the_waiting_room_sends_away_the_longest_waiting_that_sent_nothing() {
        let mut line = WaitingLine::default();
        let old = Arc::new(Activity::new(false));
        let spoken = Arc::new(Activity::new(false));
        let new = Arc::new(Activity::new(false));
        for activity in [&spoken, &old, &new] {
            line.push(activity.clone());
        }
        assert!(spoken.spoke());
        assert!(line.send_away_oldest());
        assert_eq!(old.waiting.load(Ordering::Acquire), SENT_AWAY);
        assert_eq!(
            spoken.waiting.load(Ordering::Acquire),
            SPOKE,
            "it waits for a place"
        );
        assert!(line.send_away_oldest(), "new is asked next");
        assert!(!new.spoke(), "sent away before it spoke: it closes");
        assert!(!line.send_away_oldest(), "nobody is left");
        // Each seat is given up once: by the one who sent its holder away, or by its holder.
        assert!(
            !old.leave_waiting(),
            "sent away: its seat is given up already"
        );
        assert!(spoken.leave_waiting(), "it spoke: it gives its seat up");
        let gone = Arc::new(Activity::new(false));
        line.push(gone.clone());
        assert!(gone.leave_waiting(), "it left on its own");
        assert!(!line.send_away_oldest(), "it cannot be sent away after");
    }

    #[test]
    fn a_blocked_write_is_not_idle() {
        let activity = Arc::new(Activity::new(true));
        assert!(activity.is_idle());
        activity.write_blocked.store(true, Ordering::Release);
        assert!(!activity.is_idle());
        activity.write_blocked.store(false, Ordering::Release);
        let guard = activity.answering();
        assert!(!activity.is_idle());
        drop(guard);
        assert!(activity.is_idle());
    }

    #[test]
    fn ended_connections_are_pruned() {
        let mut registry = Registry::default();
        for _ in 0..1000 {
            let activity = registry.register(true);
            drop(ClosedOnDrop(activity));
        }
        assert!(
            registry.conns.len() < 600,
            "{} entries kept",
            registry.conns.len()
        );
    }
}
