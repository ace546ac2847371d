package console

import (
	"errors"
	"net/http"

	"github.com/segmentd/segmentd"
)

// run answers a preview through the Service: the contacts a query
// matches now (the first of them) and their number.
func (h *handler) run(r *http.Request, acct int64, lang, src string) ([]segmentd.Contact, int, error) {
	switch lang {
	case "sgql":
		// A v1 segment's SGQL reads as a contacts search's.
		return h.Service.SearchContacts(r.Context(), acct, src)
	}
	return nil, 0, segmentd.Errorf(segmentd.KindInvalid, "language", "live counts of %s queries are not available yet", lang)
}

func asError(err error, e **segmentd.Error) bool { return errors.As(err, e) }
