package sfdc

import "time"

// usageWindow counts API calls in hourly buckets so that usage falls off after 24 hours,
// like Salesforce's rolling allocation.
type usageWindow struct {
	hour  [24]int64 // hour number (unix/3600) each bucket belongs to
	count [24]int
}

func (w *usageWindow) used(now time.Time) int {
	h := now.Unix() / 3600
	n := 0
	for i := range w.hour {
		if w.count[i] > 0 && h-w.hour[i] < 24 && h >= w.hour[i] {
			n += w.count[i]
		}
	}
	return n
}

func (w *usageWindow) add(now time.Time, n int) {
	h := now.Unix() / 3600
	i := int(h % 24)
	if w.hour[i] != h {
		w.hour[i], w.count[i] = h, 0
	}
	w.count[i] += n
}

func (w *usageWindow) reset() { *w = usageWindow{} }

// set replaces the window with n calls made now.
func (w *usageWindow) set(now time.Time, n int) {
	w.reset()
	w.add(now, n)
}
