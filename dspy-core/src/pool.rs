//! Many calls, a few at a time, with one future per worker rather than one per call.
//!
//! `buffer_unordered` boxes every call's future as it starts it. A program's call future
//! is several KB (the predictor, the adapter and the HTTP client nested), so at 64 calls in
//! flight those boxes kept the allocator busy for a fifth of an evaluation's CPU. Here each
//! of `concurrency` workers takes the next index and awaits its call in place: no
//! allocation per call.

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `call(i)` for every `i` in `0..count`, at most `concurrency` at once (started in
/// index order), calls `on_each` with every result as it arrives, and returns the results
/// in index order.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let seen = std::sync::atomic::AtomicUsize::new(0);
/// let squares = dspy_core::pool::run_pooled(
///     5,
///     2,
///     |i| async move { i * i },
///     |_| {
///         seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
///     },
/// )
/// .await;
/// assert_eq!(squares, vec![0, 1, 4, 9, 16]);
/// assert_eq!(seen.into_inner(), 5);
/// # });
/// ```
pub async fn run_pooled<T, Fut>(
    count: usize,
    concurrency: usize,
    call: impl Fn(usize) -> Fut,
    on_each: impl Fn(&T),
) -> Vec<T>
where
    Fut: Future<Output = T>,
{
    let next = AtomicUsize::new(0);
    let (call, on_each, next) = (&call, &on_each, &next);
    let mut workers: FuturesUnordered<_> = (0..concurrency.clamp(1, count.max(1)))
        .map(|_| async move {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break done;
                }
                let result = call(i).await;
                on_each(&result);
                done.push((i, result));
            }
        })
        .collect();
    let mut all = Vec::with_capacity(count);
    while let Some(done) = workers.next().await {
        all.extend(done);
    }
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, result)| result).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn never_runs_more_than_asked_and_keeps_index_order() {
        let in_flight = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let order = Mutex::new(Vec::new());
        let results = run_pooled(
            20,
            3,
            |i| {
                let (in_flight, most) = (&in_flight, &most);
                async move {
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    // Later indices finish sooner, so arrival order is not index order.
                    tokio::time::sleep(std::time::Duration::from_millis((20 - i as u64) % 4)).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    i * 10
                }
            },
            |r| order.lock().unwrap().push(*r),
        )
        .await;
        assert_eq!(results, (0..20).map(|i| i * 10).collect::<Vec<_>>());
        assert_eq!(most.load(Ordering::SeqCst), 3);
        let arrived = order.into_inner().unwrap();
        assert_eq!(arrived.len(), 20);
        assert_ne!(
            arrived, results,
            "the calls should have finished out of order"
        );
    }

    #[tokio::test]
    async fn nothing_to_do_is_nothing_done() {
        let results: Vec<usize> = run_pooled(0, 8, |i| async move { i }, |_| {}).await;
        assert!(results.is_empty());
    }
}
