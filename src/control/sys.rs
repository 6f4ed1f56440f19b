//! Small OS look-ups for access control: user and group names, a peer's supplementary groups.

use std::ffi::{CStr, CString};

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

/// The supplementary groups of a live process, read from `/proc/PID/status` (`Groups:` line).
/// SO_PEERCRED carries only the primary gid, so members of the socket's group via a
/// supplementary group would otherwise be refused. Empty when the process is gone.
pub fn supplementary_groups(pid: i32) -> Vec<u32> {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return Vec::new();
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("Groups:"))
        .map(|groups| {
            groups
                .split_whitespace()
                .filter_map(|gid| gid.parse().ok())
                .collect()
        })
        .unwrap_or_default()
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
    fn own_supplementary_groups_are_readable() {
        let pid = i32::try_from(std::process::id()).unwrap();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let expected = status
            .lines()
            .find_map(|l| l.strip_prefix("Groups:"))
            .unwrap()
            .split_whitespace()
            .count();
        assert_eq!(supplementary_groups(pid).len(), expected);
        assert!(supplementary_groups(-5).is_empty());
    }
}
