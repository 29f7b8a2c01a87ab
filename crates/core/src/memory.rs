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

/// Resident memory of a process (this one when `pid` is None), in MB; 0 where it cannot be read.
pub fn resident_mb(pid: Option<u32>) -> f64 {
    let process = pid.map_or("self".to_string(), |pid| pid.to_string());
    let status = std::fs::read_to_string(format!("/proc/{process}/status")).unwrap_or_default();
    let kb = status.lines().find_map(|line| line.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next());
    kb.and_then(|kb| kb.parse::<f64>().ok()).unwrap_or(0.0) / 1024.0
}
