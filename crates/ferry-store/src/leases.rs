//! Deliverer leases: which deliverer may still act on the entries it read.
//!
//! A deliverer names itself with a consumer name it never reuses, and holds
//! a lease under that name in every partition: a key with a time to live
//! that it renews (its heartbeat) well before the time runs out. Redis
//! expires the key on its own clock, so the clocks of different hosts are
//! never compared.
//!
//! Four rules make the lease the single answer to "is this deliverer alive":
//!
//! - A lease is never re-created once it expired. Renewing an expired lease
//!   fails and removes what is left of it in the other partitions, and the
//!   deliverer continues under a new name. So while a lease exists, nothing
//!   its consumer read has been taken over.
//! - Reclaim takes over only the pending entries of consumers whose lease is
//!   gone, in one script that checks the lease and claims (`reclaim.lua`),
//!   however long the entries have been pending. A live deliverer keeps its
//!   entries for as long as its attempts run: hours, if a message allows it.
//! - Every step that records an outcome checks the recording consumer's
//!   lease (fencing). A deliverer that was paused past its lease, or cut off
//!   from Redis that long, records nothing for what it read before; the
//!   entries' new holder does.
//! - Entries a live deliverer read but lost track of (a read whose reply was
//!   lost, an outcome it could not record) are not orphaned: it finds them
//!   among its own pending entries ([`crate::Store::recover_own`]).
//!
//! Redis restarted without persistence loses the leases with everything
//! else, messages included. With AOF, leases come back with their expiry
//! times; a deliverer whose lease expired meanwhile takes a new name, and
//! its attempts in flight at the restart are delivered again by whoever
//! reclaims them.
