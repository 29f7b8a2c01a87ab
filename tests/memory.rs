//! Memory the heap has freed goes back to the system. A binary of its own: RSS belongs to the
//! whole process, and other tests loading models beside this one would move it.

fn rss_mb() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: f64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).expect("resident pages");
    pages * 4096.0 / 1_048_576.0
}

#[test]
fn freed_heap_memory_is_returned() {
    // Blocks of 100 KB stay under glibc's mmap threshold, so they come from a heap; the last one
    // stays in use above the others, so freeing them does not shrink the heap by itself: the
    // holes utterances of different lengths leave behind in a long session.
    let mut blocks: Vec<Vec<u8>> = (0..2_000).map(|i| vec![(i % 255) as u8 + 1; 100 * 1024]).collect();
    let in_use = blocks.pop();
    drop(blocks);
    let before = rss_mb();
    linguastream::memory::return_freed_memory();
    let after = rss_mb();
    assert!(before - after > 100.0, "RSS {before:.0} MB → {after:.0} MB: the ~195 MB freed stayed resident");
    drop(in_use);
}
