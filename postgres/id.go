package postgres

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/eventblock"
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

// memberID is a contact or list id as list_members keeps it since
// migration 26: PostgreSQL's uuid, 16 bytes compared as bytes. pgx sends
// it as those bytes, in COPY as in a statement's parameters, where a Go
// string would go as text to parse. Only the form segmentd makes (and
// FormatUUID writes: lower-case, hyphenated) is one: uuid reads it back
// as the same text, and would read back any other form (upper case,
// braces) as other text, so UUIDValue refuses those.
type memberID string

func (id memberID) UUIDValue() (pgtype.UUID, error) {
	b, ok := eventblock.ParseUUID(string(id))
	if !ok {
		return pgtype.UUID{}, fmt.Errorf("postgres: id %s is not a lower-case UUID", segmentd.Quote(string(id)))
	}
	return pgtype.UUID{Bytes: b, Valid: true}, nil
}

// memberKey is id as a parameter compared with a list_members id: NULL,
// which equals nothing, when it is not of the form memberID takes, which
// no stored id is (text compared as text matched no row either).
func memberKey(id string) any {
	if _, ok := eventblock.ParseUUID(id); !ok {
		return nil
	}
	return memberID(id)
}

// memberKeys are the ids of the form memberID takes, for a parameter
// compared with list_members' ids by = ANY or <> ALL: an id of another
// form equals no stored id, so leaving it out changes neither.
func memberKeys(ids []string) []memberID {
	out := make([]memberID, 0, len(ids))
	for _, id := range ids {
		if _, ok := eventblock.ParseUUID(id); ok {
			out = append(out, memberID(id))
		}
	}
	return out
}

// memberIDs are ids as memberID, all of them (one not of its form fails
// the statement).
func memberIDs(ids []string) []memberID {
	out := make([]memberID, len(ids))
	for i, id := range ids {
		out[i] = memberID(id)
	}
	return out
}
