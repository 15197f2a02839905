//! Load, faults and locks: nothing is lost, nothing half-published, on the real binary.
