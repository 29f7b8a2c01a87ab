//! How the process's heap is kept from holding memory it no longer uses: the stage threads
//! allocate tensors of ever-changing sizes, and glibc keeps what they free fragmented and resident.

/// glibc gives every thread that allocates at the same time as another its own heap, up to eight
/// per core, and each keeps its freed memory fragmented. Two heaps serve the pipeline's stage
/// threads as well and hold less. Call first thing in `main`, before any other thread exists.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a malloc parameter; the caller runs before other threads exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Hands the heap's free pages back to the system. glibc returns freed memory only from the top
/// of a heap, so the holes that utterances of different lengths leave stay resident and a live
/// session's RSS creeps up hour after hour. Costs a few milliseconds, and the pages it returns
/// are faulted back in when they are next used, so it is called now and then between utterances.
pub fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim is thread-safe (it takes each heap's lock) and frees nothing in use.
    unsafe {
        libc::malloc_trim(0);
    }
}
