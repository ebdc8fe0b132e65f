// Package retention decides which recovery points of a vault to keep and which to forget.
//
// The policy is a pure function: Apply takes the policy, the current time and the points, and
// returns a Decision without touching any store. Callers forget the points in Decision.Forget and
// may show Decision.Reasons to explain why each kept point survived.
//
// Rules, applied to each machine independently:
//   - every point newer than now-KeepAll is kept, and so is every point in the future (clock skew);
//   - of the points between now-Window and now-KeepAll (both ends included), the newest point of
//     each Interval bucket is kept; buckets are aligned to multiples of Interval since the zero
//     time, which for intervals that divide a day means whole UTC hours, days and so on;
//   - points older than now-Window are forgotten;
//   - except that the newest point and the newest app-consistent point of the machine are always
//     kept, however old they are.
//
// Points are ordered by time, and points with the same time by ID, so the "newest" of several
// points with equal times is the one with the greatest ID. Point IDs are expected to be unique.
package retention
