//! NDIS (to come).
