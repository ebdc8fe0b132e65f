package processserver

// mapRegion returns nil: the chunks come from the heap.
func mapRegion(int) []byte { return nil }
