//! Memory the heap has freed goes back to the system. A binary of its own: RSS belongs to the
//! whole process, and other tests loading models beside this one would move it.

use linguastream_core::memory::{resident_mb, return_freed_memory};

#[test]
fn freed_heap_memory_is_returned() {
    // Blocks of 100 KB stay under glibc's mmap threshold, so they come from a heap; the last one
    // stays in use above the others, so freeing them does not shrink the heap by itself: the
    // holes utterances of different lengths leave behind in a long session.
    let mut blocks: Vec<Vec<u8>> = (0..2_000).map(|i| vec![(i % 255) as u8 + 1; 100 * 1024]).collect();
    let in_use = blocks.pop();
    drop(blocks);
    let before = resident_mb(None);
    return_freed_memory();
    let after = resident_mb(None);
    assert!(before - after > 100.0, "RSS {before:.0} MB → {after:.0} MB: the ~195 MB freed stayed resident");
    drop(in_use);
}
