package engine

// Stats estimates heap bytes as Go's allocator hands them out: a small
// allocation takes the smallest size class that holds it (a 36-byte string
// takes 48 bytes), a large one whole 8 KiB pages.

// sizeClasses are the Go runtime's small-object size classes (Go 1.26);
// TestAllocSizeMatchesRuntime checks them against append's growth.
var sizeClasses = [...]int64{
	8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224,
	240, 256, 288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768,
	896, 1024, 1152, 1280, 1408, 1536, 1792, 2048, 2304, 2688, 3072, 3200,
	3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728, 10240,
	10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576,
	27264, 28672, 32768,
}

// allocSize is the heap an allocation of n bytes takes.
func allocSize(n int64) int64 {
	if n <= 0 {
		return 0
	}
	if n > sizeClasses[len(sizeClasses)-1] {
		return (n + 8191) &^ 8191
	}
	lo, hi := 0, len(sizeClasses)-1
	for lo < hi {
		m := (lo + hi) / 2
		if sizeClasses[m] < n {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return sizeClasses[lo]
}

// mapEntryBytes estimates what one entry of a Go map with slot-byte
// key/value pairs takes: the slot and its control byte, at the two-thirds
// load a table holds on average between its growths.
func mapEntryBytes(slot int64) int64 {
	return (slot + 1) * 3 / 2
}
