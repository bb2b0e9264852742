//! wasi:io pollables as futures, for spin-executor.
//!
//! spin-executor's `run` polls the handler's future, and when it is pending, blocks in
//! `wasi:io/poll.poll` on the pollables registered with `push_waker_and_get_token`, then polls
//! the whole future again (its wakers do nothing). It panics when the future is pending with
//! no pollable registered: every future here that can be pending registers one, and only
//! combinators that poll all their children every time (`join`, `select`) are used above them.

use futures::future::{Either, poll_fn, select};
use spin_executor::CancelOnDropToken;
use std::pin::pin;
use std::task::Poll;
use wasi::clocks::monotonic_clock;
use wasi::io::poll::Pollable;

/// Completes once a pollable of `subscribe`'s is ready. A fresh pollable is taken at each
/// poll, as the executor drops the ones it found ready; the previous registration is dropped
/// first, so that no pollable outlives the stream or future it is a child of (a trap).
pub async fn ready(subscribe: impl Fn() -> Pollable) {
    let mut registered: Option<CancelOnDropToken> = None;
    poll_fn(|cx| {
        registered = None;
        let pollable = subscribe();
        if pollable.ready() {
            return Poll::Ready(());
        }
        registered = Some(spin_executor::push_waker_and_get_token(pollable, cx.waker().clone()).into());
        Poll::Pending
    })
    .await
}

/// Completes at `deadline` on the monotonic clock.
///
/// The clock is read rather than the pollable asked: from wasmtime 47 on, `ready` on a
/// pollable made for a deadline already past answers false once (it yields to the host's
/// runtime first), so asking a fresh one at each poll, as [`ready`] does, would never end.
pub async fn sleep_until(deadline: u64) {
    let mut registered: Option<CancelOnDropToken> = None;
    poll_fn(|cx| {
        registered = None;
        if monotonic_clock::now() >= deadline {
            return Poll::Ready(());
        }
        let pollable = monotonic_clock::subscribe_instant(deadline);
        registered = Some(spin_executor::push_waker_and_get_token(pollable, cx.waker().clone()).into());
        Poll::Pending
    })
    .await
}

/// The monotonic clock `ns` from now.
pub fn after(ns: u64) -> u64 {
    monotonic_clock::now().saturating_add(ns)
}

/// Runs `main` with `side` beside it until `main` is done; `side` is then dropped, finished or
/// not. (spin-executor has no spawn: what must progress concurrently is polled together.)
pub async fn beside<T>(main: impl Future<Output = T>, side: impl Future<Output = ()>) -> T {
    match select(pin!(main), pin!(side)).await {
        Either::Left((done, _)) => done,
        Either::Right(((), main)) => main.await,
    }
}
