//! The few system calls of the defender's tracer that `nix` cannot make safely: its `Signal` has no
//! real-time signals, so it can neither decode a wait status naming one nor give one back to a
//! tracee, and it has no `PTRACE_LISTEN`. Everything else the tracer does goes through `nix`.

use std::io;

/// `waitpid`'s `__WALL`: threads and clones are waited for as well as processes.
const WALL: libc::c_int = libc::__WALL;

/// How a waited-for process or thread changed, from its raw wait status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// It exited with this code.
    Exited(i32),
    /// A signal (any number, real-time ones included) ended it.
    Killed(i32),
    /// A ptrace stop: the signal number (`WSTOPSIG`) and the ptrace event (`status >> 16`, 0 for
    /// a signal-delivery stop).
    Stopped { signal: i32, event: i32 },
    /// Anything else (`WIFCONTINUED`): nothing to do.
    Other,
}

impl Change {
    /// Decodes a raw status as `waitpid` gives it.
    pub fn from_raw(status: i32) -> Change {
        if libc::WIFEXITED(status) {
            Change::Exited(libc::WEXITSTATUS(status))
        } else if libc::WIFSIGNALED(status) {
            Change::Killed(libc::WTERMSIG(status))
        } else if libc::WIFSTOPPED(status) {
            Change::Stopped {
                signal: libc::WSTOPSIG(status),
                event: status >> 16,
            }
        } else {
            Change::Other
        }
    }
}

/// Waits for any child or tracee (threads included) to change; `EINTR` is retried. `ECHILD` when
/// there is none left.
pub fn wait_any() -> io::Result<(i32, Change)> {
    let mut status: libc::c_int = 0;
    loop {
        #[expect(unsafe_code, reason = "waitpid with a pointer to a local status")]
        // SAFETY: `status` is a valid, writable c_int for the whole call.
        let pid = unsafe { libc::waitpid(-1, &mut status, WALL) };
        if pid >= 0 {
            return Ok((pid, Change::from_raw(status)));
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// `PTRACE_CONT`, delivering `signal` (0 for none): any number, real-time signals included.
pub fn cont(pid: i32, signal: i32) -> io::Result<()> {
    request(libc::PTRACE_CONT, pid, signal)
}

/// `PTRACE_LISTEN`: a seized tracee in group-stop stays stopped, but a `SIGCONT` wakes it (and is
/// reported), as job control expects.
pub fn listen(pid: i32) -> io::Result<()> {
    request(libc::PTRACE_LISTEN, pid, 0)
}

#[cfg(target_env = "musl")]
type Request = libc::c_int;
#[cfg(not(target_env = "musl"))]
type Request = libc::c_uint;

fn request(request: Request, pid: i32, data: i32) -> io::Result<()> {
    // The data argument is a pointer-sized integer (the signal number), as ptrace(2) says.
    let data = data as usize as *mut libc::c_void;
    #[expect(
        unsafe_code,
        reason = "a ptrace request whose pointers are null or an integer"
    )]
    // SAFETY: CONT and LISTEN read no memory through `addr` or `data`: `addr` is ignored and
    // `data` is a signal number, so no pointer is ever dereferenced.
    let result = unsafe { libc::ptrace(request, pid, std::ptr::null_mut::<libc::c_void>(), data) };
    if result == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_statuses_decode_whatever_the_signal() {
        // exit(3), killed by SIGRTMIN+3 (37), a signal-delivery stop of 37, an exec event stop.
        assert_eq!(Change::from_raw(3 << 8), Change::Exited(3));
        assert_eq!(Change::from_raw(37), Change::Killed(37));
        assert_eq!(
            Change::from_raw((37 << 8) | 0x7f),
            Change::Stopped {
                signal: 37,
                event: 0
            }
        );
        assert_eq!(
            Change::from_raw((4 << 16) | (libc::SIGTRAP << 8) | 0x7f),
            Change::Stopped {
                signal: libc::SIGTRAP,
                event: 4
            }
        );
        assert_eq!(Change::from_raw(0xffff), Change::Other);
    }

    #[test]
    fn requests_on_a_process_that_is_not_a_tracee_are_refused() {
        assert_eq!(
            cont(std::process::id() as i32, 0)
                .unwrap_err()
                .raw_os_error(),
            Some(libc::ESRCH)
        );
        assert!(listen(i32::MAX).is_err());
    }
}
