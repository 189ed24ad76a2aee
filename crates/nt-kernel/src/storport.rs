//! StorPort (to come).
