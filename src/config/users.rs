//! Resolves user and group names to ids through the system's name service (NSS), so that
//! names from LDAP or sssd work as well as those in /etc/passwd and /etc/group.

use std::ffi::CString;

/// Outcome of one name lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The name exists and has this id.
    Found(u32),
    /// The name service answered that no such name exists.
    NotFound,
    /// The lookup itself failed (errno text).
    Failed(String),
}

/// Looks up a user name; returns its uid.
pub fn user_id(name: &str) -> Lookup {
    let Ok(cname) = CString::new(name) else {
        return Lookup::NotFound;
    };
    let mut buf = vec![0u8; 4096];
    loop {
        match getpwnam_uid(&cname, &mut buf) {
            Ok(found) => return found.map_or(Lookup::NotFound, Lookup::Found),
            Err(libc::ERANGE) if buf.len() < 1 << 20 => buf.resize(buf.len() * 4, 0),
            Err(code) => {
                return Lookup::Failed(std::io::Error::from_raw_os_error(code).to_string());
            }
        }
    }
}

/// Looks up a group name; returns its gid.
pub fn group_id(name: &str) -> Lookup {
    let Ok(cname) = CString::new(name) else {
        return Lookup::NotFound;
    };
    let mut buf = vec![0u8; 4096];
    loop {
        match getgrnam_gid(&cname, &mut buf) {
            Ok(found) => return found.map_or(Lookup::NotFound, Lookup::Found),
            Err(libc::ERANGE) if buf.len() < 1 << 20 => buf.resize(buf.len() * 4, 0),
            Err(code) => {
                return Lookup::Failed(std::io::Error::from_raw_os_error(code).to_string());
            }
        }
    }
}

/// `getpwnam_r`: Ok(Some(uid)), Ok(None) when absent, Err(errno) on failure (ERANGE: grow `buf`).
#[allow(unsafe_code)]
fn getpwnam_uid(name: &CString, buf: &mut [u8]) -> Result<Option<u32>, i32> {
    // SAFETY: `pwd` is plain old data that getpwnam_r fills in; `name` is a valid NUL-terminated
    // string; `buf` is a live, writable buffer of the length we pass; `result` is a valid out
    // pointer. The string pointers inside `pwd` point into `buf` and are never read here — only
    // the integer `pw_uid` is copied out before `buf` can change.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwnam_r(
            name.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        );
        match rc {
            0 if result.is_null() => Ok(None),
            0 => Ok(Some(pwd.pw_uid)),
            // Some NSS modules report "not found" with these instead of 0 + NULL.
            libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM => Ok(None),
            code => Err(code),
        }
    }
}

/// `getgrnam_r`: Ok(Some(gid)), Ok(None) when absent, Err(errno) on failure (ERANGE: grow `buf`).
#[allow(unsafe_code)]
fn getgrnam_gid(name: &CString, buf: &mut [u8]) -> Result<Option<u32>, i32> {
    // SAFETY: as in `getpwnam_uid`: valid in/out pointers, a writable buffer of the stated length,
    // and only the integer `gr_gid` is read from the result.
    unsafe {
        let mut grp: libc::group = std::mem::zeroed();
        let mut result: *mut libc::group = std::ptr::null_mut();
        let rc = libc::getgrnam_r(
            name.as_ptr(),
            &mut grp,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        );
        match rc {
            0 if result.is_null() => Ok(None),
            0 => Ok(Some(grp.gr_gid)),
            libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM => Ok(None),
            code => Err(code),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_user_and_group_resolve_to_zero() {
        assert_eq!(user_id("root"), Lookup::Found(0));
        assert_eq!(group_id("root"), Lookup::Found(0));
    }

    #[test]
    fn unknown_names_are_not_found() {
        assert_eq!(user_id("no-such-user-shoptet-x9"), Lookup::NotFound);
        assert_eq!(group_id("no-such-group-shoptet-x9"), Lookup::NotFound);
        assert_eq!(user_id("nul\0inside"), Lookup::NotFound);
    }
}
