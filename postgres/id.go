package postgres

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"

	"github.com/segmentd/segmentd"
)

// contactIDs hands out contact ids: version 7 UUIDs (RFC 9562), whose
// first 60 bits are the unix millisecond and a sequence number, so that
// every id is greater than the ids given before it.
//
// Why not segmentd.NewID's random (version 4) ids: a contact id is in the
// primary key of contacts and in both indexes of list_members. Random keys
// land on random B-tree pages, so a large upsert into a large database
// would dirty pages all over those indexes; increasing keys append near
// their right edge (the SQLite store does the same, sqlite/id.go). Servers
// sharing the database each count their own ids: theirs interleave, still
// close to the edge. Clients only see a UUID, as SendGrid gives them.
type contactIDs struct {
	mu   sync.Mutex
	last uint64    // unix ms << 12 | sequence, of the last id
	rnd  [512]byte // random bytes not used yet: rnd[off:]
	off  int
}

func (g *contactIDs) next(now time.Time) string {
	var b [16]byte
	g.mu.Lock()
	v := max(uint64(now.UnixMilli())<<12, g.last+1)
	g.last = v
	if g.off == 0 || g.off+8 > len(g.rnd) {
		if _, err := rand.Read(g.rnd[:]); err != nil {
			g.mu.Unlock()
			panic("postgres: crypto/rand failed: " + err.Error())
		}
		g.off = 0
	}
	copy(b[8:], g.rnd[g.off:g.off+8])
	g.off += 8
	g.mu.Unlock()

	binary.BigEndian.PutUint64(b[:8], v>>12<<16|0x7000|v&0xfff) // 48-bit ms, version 7, 12-bit sequence
	b[8] = b[8]&0x3f | 0x80                                     // RFC 9562 variant
	return segmentd.FormatUUID(b)
}
