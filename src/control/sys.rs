//! Small OS look-ups for access control: user and group names, a socket peer's groups.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, RawFd};

/// Largest buffer offered to the `get*_r` calls before giving up (entries are tiny in practice).
const MAX_LOOKUP_BUFFER: usize = 1 << 20;

/// The user name of `uid` from the system's user database, `None` when it has none.
/// May block on NSS (LDAP, …): call it from a blocking-capable context.
pub fn user_name_of(uid: u32) -> Option<String> {
    let mut size = 1024;
    loop {
        match getpwuid_name(uid, size) {
            Lookup::Found(name) => return Some(name),
            Lookup::Missing => return None,
            Lookup::BufferTooSmall if size < MAX_LOOKUP_BUFFER => size *= 4,
            Lookup::BufferTooSmall => return None,
        }
    }
}

/// The user name of `uid`, or `uid:N` when it has none.
pub fn user_label(uid: u32) -> String {
    user_name_of(uid).unwrap_or_else(|| format!("uid:{uid}"))
}

/// Resolves a group given by name or as a number to its gid.
pub fn group_id_of(group: &str) -> Option<u32> {
    if let Ok(gid) = group.parse::<u32>() {
        return Some(gid);
    }
    let name = CString::new(group).ok()?;
    let mut size = 1024;
    loop {
        match getgrnam_gid(&name, size) {
            Lookup::Found(gid) => return Some(gid),
            Lookup::Missing => return None,
            Lookup::BufferTooSmall if size < MAX_LOOKUP_BUFFER => size *= 4,
            Lookup::BufferTooSmall => return None,
        }
    }
}

/// `SO_PEERGROUPS` (Linux 4.13+); libc does not export it on every target.
#[cfg(target_arch = "sparc64")]
const SO_PEERGROUPS: libc::c_int = 0x003d;
#[cfg(not(target_arch = "sparc64"))]
const SO_PEERGROUPS: libc::c_int = 59;

/// Most groups a peer can have (`NGROUPS_MAX` is 65536 on Linux); bounds the buffer growth.
const MAX_PEER_GROUPS: usize = 65_536;

/// The supplementary groups of a Unix socket's peer, as the kernel recorded them when it
/// connected (`SO_PEERGROUPS`). Unlike reading `/proc/PID/status` this works under
/// `ProtectProc=invisible` and cannot be fooled by the peer exiting and its pid being reused.
pub fn peer_groups(socket: &impl AsRawFd) -> std::io::Result<Vec<u32>> {
    let fd = socket.as_raw_fd();
    let mut capacity = 64usize;
    loop {
        match peer_groups_into(fd, capacity) {
            Ok(groups) => return Ok(groups),
            Err(PeerGroupsError::TooSmall(needed)) if needed > capacity => {
                if needed > MAX_PEER_GROUPS {
                    return Err(std::io::Error::other("the peer has too many groups"));
                }
                capacity = needed;
            }
            Err(PeerGroupsError::TooSmall(_)) if capacity < MAX_PEER_GROUPS => {
                capacity = (capacity * 4).min(MAX_PEER_GROUPS);
            }
            Err(PeerGroupsError::TooSmall(_)) => {
                return Err(std::io::Error::other("the peer has too many groups"));
            }
            Err(PeerGroupsError::Io(error)) => return Err(error),
        }
    }
}

enum PeerGroupsError {
    /// ERANGE: the buffer holds fewer groups than the peer has (the kernel's count).
    TooSmall(usize),
    Io(std::io::Error),
}

#[allow(unsafe_code)]
fn peer_groups_into(fd: RawFd, capacity: usize) -> Result<Vec<u32>, PeerGroupsError> {
    let mut groups: Vec<libc::gid_t> = vec![0; capacity];
    let entry = std::mem::size_of::<libc::gid_t>();
    let mut length = libc::socklen_t::try_from(capacity * entry)
        .map_err(|_| PeerGroupsError::Io(std::io::Error::other("group buffer too large")))?;
    // SAFETY: `groups` is writable for `length` bytes (capacity gid_t entries) and outlives the
    // call; `length` is a valid in/out pointer. The kernel writes at most `length` bytes and
    // stores the byte count it wrote (or, with ERANGE, the count it needs) back into `length`.
    // `fd` is borrowed from a live socket for the duration of the call.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            SO_PEERGROUPS,
            groups.as_mut_ptr().cast::<libc::c_void>(),
            &mut length,
        )
    };
    let written = usize::try_from(length).unwrap_or(usize::MAX) / entry;
    if rc != 0 {
        let error = std::io::Error::last_os_error();
        return Err(if error.raw_os_error() == Some(libc::ERANGE) {
            PeerGroupsError::TooSmall(written)
        } else {
            PeerGroupsError::Io(error)
        });
    }
    groups.truncate(written.min(capacity));
    Ok(groups)
}

enum Lookup<T> {
    Found(T),
    Missing,
    BufferTooSmall,
}

#[allow(unsafe_code)]
fn getpwuid_name(uid: u32, buffer_size: usize) -> Lookup<String> {
    let mut buffer: Vec<libc::c_char> = vec![0; buffer_size];
    let mut entry = std::mem::MaybeUninit::<libc::passwd>::uninit();
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call: `entry` is writable storage for one passwd,
    // `buffer` is writable for `buffer.len()` bytes and outlives every use of the strings the call
    // stores in it, and `result` is a valid out-pointer. `pw_name` is read only when the call
    // reports success (rc 0, result non-null), when it points at a NUL-terminated string in
    // `buffer`; the name is copied out before `buffer` is dropped.
    unsafe {
        let rc = libc::getpwuid_r(
            uid,
            entry.as_mut_ptr(),
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut result,
        );
        if rc == libc::ERANGE {
            return Lookup::BufferTooSmall;
        }
        if rc != 0 || result.is_null() {
            return Lookup::Missing;
        }
        let name = CStr::from_ptr((*result).pw_name);
        match name.to_str() {
            Ok(name) if !name.is_empty() => Lookup::Found(name.to_owned()),
            _ => Lookup::Missing,
        }
    }
}

#[allow(unsafe_code)]
fn getgrnam_gid(name: &CStr, buffer_size: usize) -> Lookup<u32> {
    let mut buffer: Vec<libc::c_char> = vec![0; buffer_size];
    let mut entry = std::mem::MaybeUninit::<libc::group>::uninit();
    let mut result: *mut libc::group = std::ptr::null_mut();
    // SAFETY: `name` is NUL-terminated, `entry` is writable storage for one group, `buffer` is
    // writable for `buffer.len()` bytes and `result` is a valid out-pointer; `gr_gid` is read only
    // after the call reported success (rc 0, result non-null).
    unsafe {
        let rc = libc::getgrnam_r(
            name.as_ptr(),
            entry.as_mut_ptr(),
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut result,
        );
        if rc == libc::ERANGE {
            return Lookup::BufferTooSmall;
        }
        if rc != 0 || result.is_null() {
            return Lookup::Missing;
        }
        Lookup::Found((*result).gr_gid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_resolves_to_its_name() {
        assert_eq!(user_name_of(0).as_deref(), Some("root"));
        assert_eq!(group_id_of("root"), Some(0));
    }

    #[test]
    fn unknown_uid_falls_back_to_a_label() {
        assert_eq!(user_label(3_999_999_999), "uid:3999999999");
        assert_eq!(group_id_of("no-such-group-shoptet-sync-test"), None);
        assert_eq!(group_id_of("1234"), Some(1234));
    }

    #[test]
    fn a_peer_s_groups_are_its_supplementary_groups() {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let mut expected: Vec<u32> = status
            .lines()
            .find_map(|l| l.strip_prefix("Groups:"))
            .unwrap()
            .split_whitespace()
            .map(|gid| gid.parse().unwrap())
            .collect();
        expected.sort_unstable();
        for end in [&ours, &theirs] {
            let mut groups = peer_groups(end).unwrap();
            groups.sort_unstable();
            assert_eq!(groups, expected);
        }
        // The ERANGE path: a one-entry buffer either fits or reports the size needed.
        match peer_groups_into(ours.as_raw_fd(), 1) {
            Ok(groups) => assert!(groups.len() <= 1),
            Err(PeerGroupsError::TooSmall(needed)) => assert_eq!(needed, expected.len()),
            Err(PeerGroupsError::Io(error)) => panic!("{error}"),
        }
    }
}
