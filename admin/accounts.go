package admin

import (
	"net/http"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/ownapi"
)

// Accounts for tests: created with a full-access key in one call, listed,
// reset, deleted (docs/admin.md).

// accountBody is an account as the face writes it.
type accountBody struct {
	ID        int64   `json:"id"`
	Name      string  `json:"name"`
	Parent    *string `json:"parent"` // the parent's name; null for a top-level account
	CreatedAt string  `json:"created_at"`
}

// accountOf renders a, naming its parent through names (by id).
func accountOf(a segmentd.Account, names map[int64]string) accountBody {
	b := accountBody{ID: a.ID, Name: a.Name, CreatedAt: jsonTime(a.CreatedAt)}
	if a.ParentID != 0 {
		p := names[a.ParentID]
		b.Parent = &p
	}
	return b
}

// accountNames maps every account's id to its name.
func (h *handler) accountNames(r *http.Request) (map[int64]string, []segmentd.Account, error) {
	all, err := h.Control.Accounts(r.Context())
	if err != nil {
		return nil, nil, err
	}
	names := make(map[int64]string, len(all))
	for _, a := range all {
		names[a.ID] = a.Name
	}
	return names, all, nil
}

func (h *handler) listAccounts(w http.ResponseWriter, r *http.Request) error {
	names, all, err := h.accountNames(r)
	if err != nil {
		return err
	}
	out := make([]accountBody, len(all))
	for i, a := range all {
		out[i] = accountOf(a, names)
	}
	ownapi.WriteJSON(w, http.StatusOK, struct {
		Accounts []accountBody `json:"accounts"`
	}{out})
	return nil
}

// createRequest creates an account, a subuser of Parent when it is set.
type createRequest struct {
	Name   *string `json:"name"`
	Parent *string `json:"parent"`
}

// createdBody answers a create: the account and its key, whose secret is
// shown this once.
type createdBody struct {
	Account accountBody `json:"account"`
	APIKey  keyBody     `json:"api_key"`
}

type keyBody struct {
	ID     int64    `json:"id"`
	Key    string   `json:"key"`
	Scopes []string `json:"scopes"`
}

func (h *handler) createAccount(w http.ResponseWriter, r *http.Request) error {
	var req createRequest
	if err := readBody(w, r, &req, false); err != nil {
		return err
	}
	if req.Name == nil {
		return segmentd.Errorf(segmentd.KindInvalid, "name", "name is required")
	}
	parent := ""
	if req.Parent != nil {
		if parent = *req.Parent; parent == "" {
			return segmentd.Errorf(segmentd.KindInvalid, "parent", "parent must name an account (leave it out for a top-level account)")
		}
	}
	a, secret, k, err := h.Control.CreateAccountWithKey(r.Context(), *req.Name, parent)
	if err != nil {
		return err
	}
	h.Log.Info("admin: account created", "account", a.ID, "name", a.Name, "parent", parent)
	scopes := make([]string, len(k.Scopes))
	for i, s := range k.Scopes {
		scopes[i] = string(s)
	}
	body := createdBody{Account: accountOf(a, map[int64]string{a.ParentID: parent}), APIKey: keyBody{ID: k.ID, Key: secret, Scopes: scopes}}
	w.Header().Set("Location", "/admin/accounts/"+a.Name)
	ownapi.WriteJSON(w, http.StatusCreated, body)
	return nil
}

func (h *handler) resetAccount(w http.ResponseWriter, r *http.Request) error {
	if err := readBody(w, r, &struct{}{}, true); err != nil {
		return err
	}
	a, err := h.Control.ResetAccount(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	h.Log.Info("admin: account reset", "account", a.ID, "name", a.Name)
	return h.answerAccount(w, r, a, "reset")
}

func (h *handler) deleteAccount(w http.ResponseWriter, r *http.Request) error {
	a, err := h.Control.DeleteAccount(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	h.Log.Info("admin: account deleted", "account", a.ID, "name", a.Name)
	return h.answerAccount(w, r, a, "deleted")
}

// answerAccount answers a reset or a deletion with the account as it was.
func (h *handler) answerAccount(w http.ResponseWriter, r *http.Request, a segmentd.Account, key string) error {
	names := map[int64]string{}
	if a.ParentID != 0 {
		var err error
		if names, _, err = h.accountNames(r); err != nil {
			return err
		}
	}
	ownapi.WriteJSON(w, http.StatusOK, map[string]accountBody{key: accountOf(a, names)})
	return nil
}
