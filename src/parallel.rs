//! Work spread over every core.

/// `f` of each item, in order, computed on every core when there are enough items to be
/// worth a thread each (`at_least` per thread).
pub fn map<T: Sync, R: Send>(items: &[T], at_least: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads == 1 || items.len() < at_least.saturating_mul(2) {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads).max(at_least);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(f).collect::<Vec<_>>()))
            .collect();
        let mut all = Vec::with_capacity(items.len());
        for handle in handles {
            match handle.join() {
                Ok(part) => all.extend(part),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        all
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_keep_the_order_of_the_items() {
        let items: Vec<u32> = (0..1000).collect();
        assert_eq!(
            super::map(&items, 8, |n| n * 2),
            items.iter().map(|n| n * 2).collect::<Vec<_>>()
        );
        assert_eq!(super::map(&items[..3], 8, |n| n + 1), vec![1, 2, 3]);
    }
}
