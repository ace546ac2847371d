package sqlite_test

import (
	"testing"

	"github.com/segmentd/segmentd/internal/querydiff"
)

// TestCriteriaDifferential: Constant Contact criteria translated by package
// criteria, then to SQL by query.GenerateSQL, select on SQLite exactly the
// contacts the Go evaluator accepts.
func TestCriteriaDifferential(t *testing.T) {
	db := openSchema(t)
	recs := querydiff.Contacts(150, 11)
	insertContacts(t, db, 1, recs, querydiff.Catalog(t))
	querydiff.Criteria(t, diffStore(db), recs)
}
