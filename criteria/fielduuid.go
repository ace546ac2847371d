package criteria

import (
	"crypto/sha256"
	"encoding/hex"
)

// FieldUUID gives a segmentd custom field id ("w1", "n2") the UUID by
// which Constant Contact names a custom field (custom_field_id): a
// version-8 UUID from the id's SHA-256, the same for the same id every
// time and on every server, so it needs no storage. The Constant Contact
// face shows fields under it, and a contact condition names a field by it
// ({"field":"custom_field","param":"<uuid>"}), so both derive it here.
func FieldUUID(id string) string {
	sum := sha256.Sum256([]byte("segmentd custom field " + id))
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x80
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], b[10:16])
	return string(out[:])
}
