//! A memory budget for decoded images, shared by every image job of a process.
//!
//! Worker permits bound how many jobs run; they do not bound what those jobs hold, since one
//! 40 MP document photo needs a hundred times the memory of a camera frame. Each decode
//! therefore first reserves its estimated peak ([`decode_cost`]) from this budget, read
//! from the image header before any pixel exists, and holds the reservation for as long as
//! the pixels live. Jobs wait when the budget is spent, so the process's decoded-image
//! memory stays under the budget whatever mix of uploads arrives. A single decode larger
//! than the whole budget still runs, alone.

use std::sync::{Arc, Condvar, Mutex};

/// Bytes per pixel a decode may hold at its peak. Measured with image 0.25 on 40 MP
/// images: baseline JPEG and PNG peak near 3 bytes a pixel, progressive JPEG near 6 (the
/// coefficients of the whole image), lossless WebP near 7 (RGBA, then RGB); turning the
/// image upright adds a 3-byte copy. What a check builds afterwards (grey copies, the
/// crop, the encoded JPEG) fits in what the decoder gave back.
pub const BYTES_PER_PIXEL: u64 = 8;

/// Fixed working memory of one job beyond its pixels.
pub const JOB_OVERHEAD: u64 = 4 * 1024 * 1024;

/// The reservation a decode of a `width` × `height` image makes.
pub fn decode_cost(width: u32, height: u32) -> u64 {
    u64::from(width) * u64::from(height) * BYTES_PER_PIXEL + JOB_OVERHEAD
}

#[derive(Debug, Default)]
struct Use {
    in_use: u64,
    peak: u64,
}

/// See the module documentation. Blocking: acquire it on a blocking thread.
#[derive(Debug)]
pub struct DecodeBudget {
    capacity: u64,
    used: Mutex<Use>,
    freed: Condvar,
}

/// A reservation; dropping it gives the bytes back.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<DecodeBudget>,
    bytes: u64,
}

impl DecodeBudget {
    pub fn new(capacity: u64) -> Arc<Self> {
        Arc::new(DecodeBudget {
            capacity: capacity.max(1),
            used: Mutex::new(Use::default()),
            freed: Condvar::new(),
        })
    }

    /// Reserve `bytes`, waiting until they are free. A request above the capacity is cut
    /// to the capacity: it waits for the budget to empty and then runs alone.
    pub fn reserve(self: &Arc<Self>, bytes: u64) -> Reservation {
        let bytes = bytes.min(self.capacity);
        let mut used = self.used.lock().expect("decode budget poisoned");
        while used.in_use + bytes > self.capacity {
            used = self.freed.wait(used).expect("decode budget poisoned");
        }
        used.in_use += bytes;
        used.peak = used.peak.max(used.in_use);
        Reservation {
            budget: self.clone(),
            bytes,
        }
    }

    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Bytes reserved now.
    pub fn in_use(&self) -> u64 {
        self.used.lock().expect("decode budget poisoned").in_use
    }

    /// The most bytes ever reserved at once.
    pub fn peak(&self) -> u64 {
        self.used.lock().expect("decode budget poisoned").peak
    }
}

impl Reservation {
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut used = self.budget.used.lock().expect("decode budget poisoned");
        used.in_use -= self.bytes;
        drop(used);
        self.budget.freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn reservations_wait_for_room_and_never_exceed_the_capacity() {
        let budget = DecodeBudget::new(100);
        let a = budget.reserve(60);
        let waiter = {
            let budget = budget.clone();
            std::thread::spawn(move || {
                let r = budget.reserve(50);
                (r.bytes(), budget.in_use())
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(!waiter.is_finished(), "50 more bytes do not fit beside 60");
        drop(a);
        let (bytes, in_use_then) = waiter.join().unwrap();
        assert_eq!(bytes, 50);
        assert_eq!(in_use_then, 50);
        assert_eq!(budget.in_use(), 0);
        assert_eq!(budget.peak(), 60);
    }

    #[test]
    fn an_oversized_request_runs_alone() {
        let budget = DecodeBudget::new(100);
        let r = budget.reserve(1_000);
        assert_eq!(r.bytes(), 100);
        assert_eq!(budget.in_use(), 100);
        drop(r);
        assert_eq!(budget.in_use(), 0);
    }

    #[test]
    fn costs_grow_with_the_pixels() {
        assert_eq!(decode_cost(1000, 1000), 8_000_000 + JOB_OVERHEAD);
        assert!(decode_cost(8000, 5000) > 300_000_000);
    }
}
