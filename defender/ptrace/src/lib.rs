//! The few system calls of the defender's tracer that `nix` cannot make safely: its `Signal` has no
//! real-time signals, so it can neither decode a wait status naming one nor give one back to a
//! tracee, and it has no `PTRACE_LISTEN`. Everything else the tracer does goes through `nix`.
//! Besides, the sidecar's kill of a process judged in prevent mode goes through a pidfd (nix has
//! none), so a pid reused in the meantime is never killed.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

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

/// `pidfd_open(2)`: a descriptor naming the process `pid` is now, which stays that process's
/// even once the pid is handed to another (so a signal sent through it never reaches a newer
/// process of the same pid). `ENOSYS` before Linux 5.3.
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    #[expect(unsafe_code, reason = "a system call taking two integers")]
    // SAFETY: pidfd_open reads no memory: a pid and flags (0).
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = libc::c_int::try_from(fd).map_err(io::Error::other)?;
    #[expect(
        unsafe_code,
        reason = "adopting the descriptor the kernel just returned"
    )]
    // SAFETY: `fd` was just opened by pidfd_open and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `pidfd_send_signal(2)`: `signal` to the process `pidfd` names (`ESRCH` once it has ended).
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, signal: i32) -> io::Result<()> {
    let null = std::ptr::null_mut::<libc::siginfo_t>();
    #[expect(
        unsafe_code,
        reason = "a system call with a descriptor and a null pointer"
    )]
    // SAFETY: the descriptor is valid for the call (borrowed) and `info` is null, so the kernel
    // reads no memory of ours.
    let result = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            null,
            0,
        )
    };
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
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
    fn a_pidfd_signals_its_process_and_only_while_it_lives() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pidfd = pidfd_open(child.id() as i32).unwrap();
        pidfd_send_signal(std::os::fd::AsFd::as_fd(&pidfd), libc::SIGKILL).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9)
        );
        // Reaped: the pidfd names a process that is gone, whatever the pid is now.
        let gone = pidfd_send_signal(std::os::fd::AsFd::as_fd(&pidfd), 0).unwrap_err();
        assert_eq!(gone.raw_os_error(), Some(libc::ESRCH));
        assert!(pidfd_open(i32::MAX).is_err());
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
