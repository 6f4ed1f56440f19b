//! Mirrors of record shapes as older format versions wrote them, and their conversion to the
//! current types. [`super::codec::Record::decode_older`] of a changed type decodes through these.
//!
//! Shapes changed in version 2: none yet. When a stored type's shape changes, copy its old
//! definition here (as `v1::TypeName`, with every nested type that changed with it), implement
//! `From<v1::TypeName>` for the current type, and override `decode_older` next to the type's
//! `stored_record` list in `codec.rs`. A test writes the old shape and reads the new one.
