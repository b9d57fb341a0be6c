//! How the process holds memory between stages: few allocator arenas, and freed pages handed back
//! to the operating system when a stage ends.
//!
//! A nightly run holds a million-row snapshot in one stage, a feature matrix in the next, a risk
//! table and its CSV in another. glibc's allocator gives each thread that allocates its own arena
//! (up to 8 per core) and keeps what a stage freed there, in pieces the next stage's buffers,
//! allocated on other threads, do not reuse: resident memory climbed from stage to stage. At 1M
//! customers the run peaked at 632-719 MB of RSS while its live memory peaked at about 441 MB
//! (RSS with a fixed mmap threshold); with two arenas and a trim after each stage, 505-582 MB,
//! for about half a second more. jemalloc (tikv-jemallocator) reached 455-476 MB but cost 2 s of
//! page faults.
//! `MALLOC_ARENA_MAX` in the environment still wins over the arena setting here.
//! Elsewhere than Linux with glibc these functions do nothing.

/// Allocator arenas the process may create.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ARENAS: libc::c_int = 2;

/// Limits the allocator's arenas; call it first thing in `main`, before any thread starts.
pub fn configure_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets an allocator parameter; it takes no pointers.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, ARENAS);
        }
    }
}

/// Hands the heap's free pages back to the operating system.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
}
