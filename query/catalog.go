package query

import (
	"fmt"
	"strings"
)

// FieldType is the type of a custom field, as in SendGrid's field
// definitions API.
type FieldType int

const (
	Text FieldType = iota + 1
	Number
	Date
)

func (t FieldType) String() string {
	switch t {
	case Text:
		return "Text"
	case Number:
		return "Number"
	case Date:
		return "Date"
	}
	return fmt.Sprintf("FieldType(%d)", int(t))
}

// CustomField is one of an account's custom field definitions. ID is the id
// the store keys values by ('w1', 'n2', 'd3'); Name is what queries use,
// matched case-insensitively.
type CustomField struct {
	ID   string
	Name string
	Type FieldType
}

// ReservedField describes one of SendGrid's reserved fields.
type ReservedField struct {
	Name     string
	ID       string // SendGrid's id, "_rf0_T"; empty for identifiers without one
	Type     FieldType
	Array    bool // a set of strings
	ReadOnly bool
	// Queryable is false for the fields SendGrid's 2.0 validator rejects as
	// contact_data columns (last_opened, ...): segmentd rejects them in both
	// dialects and expresses engagement through event_data instead.
	Queryable bool
}

// ReservedFields returns SendGrid's reserved fields, in its order, followed
// by the contact identifiers and list_ids.
func ReservedFields() []ReservedField {
	t := func(name, id string) ReservedField {
		return ReservedField{Name: name, ID: id, Type: Text, Queryable: true}
	}
	ro := func(f ReservedField) ReservedField { f.ReadOnly = true; return f }
	arr := func(f ReservedField) ReservedField { f.Array = true; return f }
	no := func(f ReservedField) ReservedField { f.Queryable = false; return f }
	d := func(f ReservedField) ReservedField { f.Type = Date; return f }
	return []ReservedField{
		t("first_name", "_rf0_T"),
		t("last_name", "_rf1_T"),
		t("email", "_rf2_T"),
		arr(t("alternate_emails", "_rf3_T")),
		t("address_line_1", "_rf4_T"),
		t("address_line_2", "_rf5_T"),
		t("city", "_rf6_T"),
		t("state_province_region", "_rf7_T"),
		t("postal_code", "_rf8_T"),
		t("country", "_rf9_T"),
		t("phone_number", "_rf10_T"),
		t("whatsapp", "_rf11_T"),
		t("line", "_rf12_T"),
		t("facebook", "_rf13_T"),
		t("unique_name", "_rf14_T"),
		ro(arr(t("email_domains", "_rf15_T"))),
		ro(no(d(t("last_clicked", "_rf16_D")))),
		ro(no(d(t("last_opened", "_rf17_D")))),
		ro(no(d(t("last_emailed", "_rf18_D")))),
		ro(no(t("singlesend_id", "_rf19_T"))),
		ro(no(t("automation_id", "_rf20_T"))),
		ro(d(t("created_at", "_rf21_D"))),
		ro(d(t("updated_at", "_rf22_D"))),
		ro(t("contact_id", "_rf23_T")),
		t("phone_number_id", ""),
		t("external_id", ""),
		t("anonymous_id", ""),
		ro(arr(t("list_ids", ""))),
	}
}

// TextField indexes the reserved single-valued text fields of a Record.
type TextField int

// The reserved text fields, in Record.Text order.
const (
	FieldEmail TextField = iota
	FieldPhoneNumberID
	FieldExternalID
	FieldAnonymousID
	FieldFirstName
	FieldLastName
	FieldAddressLine1
	FieldAddressLine2
	FieldCity
	FieldStateProvinceRegion
	FieldPostalCode
	FieldCountry
	FieldPhoneNumber
	FieldWhatsapp
	FieldLine
	FieldFacebook
	FieldUniqueName
	NumTextFields
)

// Name returns the field's name, which is also its column in the store.
func (f TextField) Name() string {
	switch f {
	case FieldEmail:
		return "email"
	case FieldPhoneNumberID:
		return "phone_number_id"
	case FieldExternalID:
		return "external_id"
	case FieldAnonymousID:
		return "anonymous_id"
	case FieldFirstName:
		return "first_name"
	case FieldLastName:
		return "last_name"
	case FieldAddressLine1:
		return "address_line_1"
	case FieldAddressLine2:
		return "address_line_2"
	case FieldCity:
		return "city"
	case FieldStateProvinceRegion:
		return "state_province_region"
	case FieldPostalCode:
		return "postal_code"
	case FieldCountry:
		return "country"
	case FieldPhoneNumber:
		return "phone_number"
	case FieldWhatsapp:
		return "whatsapp"
	case FieldLine:
		return "line"
	case FieldFacebook:
		return "facebook"
	case FieldUniqueName:
		return "unique_name"
	}
	return ""
}

// Catalog is what the checker knows about one account: its custom fields.
// The position of a custom field in the slice given to NewCatalog is its slot
// in Record.Custom. A Catalog is immutable and safe for concurrent use.
type Catalog struct {
	custom []CustomField
	byName map[string]int // lower-cased name -> slot
	byID   map[string]int
}

// NewCatalog builds a catalogue from an account's custom fields. Names must
// be unique case-insensitively and must not collide with reserved names.
func NewCatalog(custom []CustomField) (*Catalog, error) {
	c := &Catalog{
		custom: append([]CustomField(nil), custom...),
		byName: make(map[string]int, len(custom)),
		byID:   make(map[string]int, len(custom)),
	}
	for i, f := range c.custom {
		key := strings.ToLower(f.Name)
		if f.Name == "" || f.ID == "" {
			return nil, fmt.Errorf("custom field %d: empty name or id", i)
		}
		if f.Type != Text && f.Type != Number && f.Type != Date {
			return nil, fmt.Errorf("custom field %q: invalid type %v", f.Name, f.Type)
		}
		if _, ok := reservedByName(key); ok {
			return nil, fmt.Errorf("custom field %q: name is reserved", f.Name)
		}
		if _, dup := c.byName[key]; dup {
			return nil, fmt.Errorf("custom field %q: duplicate name", f.Name)
		}
		if _, dup := c.byID[f.ID]; dup {
			return nil, fmt.Errorf("custom field %q: duplicate id %q", f.Name, f.ID)
		}
		c.byName[key] = i
		c.byID[f.ID] = i
	}
	return c, nil
}

// CustomFields returns a copy of the catalogue's custom fields, in slot order.
func (c *Catalog) CustomFields() []CustomField { return append([]CustomField(nil), c.custom...) }

// Slot returns the Record.Custom slot of the custom field with the given
// name (case-insensitive).
func (c *Catalog) Slot(name string) (int, bool) {
	i, ok := c.byName[strings.ToLower(name)]
	return i, ok
}

// SlotByID returns the Record.Custom slot of the custom field with the given id.
func (c *Catalog) SlotByID(id string) (int, bool) {
	i, ok := c.byID[id]
	return i, ok
}

// fieldKind says where a contact field's value lives.
type fieldKind uint8

const (
	fkText fieldKind = iota // Record.Text[text]
	fkID
	fkCreatedAt
	fkUpdatedAt
	fkListIDs
	fkTagIDs
	fkAltEmails
	fkEmailDomains
	fkCustom
	fkNotQueryable
)

// fieldRef is a contact field resolved by the checker.
type fieldRef struct {
	kind fieldKind
	text TextField
	slot int
	typ  Type
	name string // canonical name, for SQL and messages
	id   string // custom field id
}

func reservedByName(lower string) (fieldRef, bool) {
	for f := TextField(0); f < NumTextFields; f++ {
		if f.Name() == lower {
			return fieldRef{kind: fkText, text: f, typ: TString, name: lower}, true
		}
	}
	switch lower {
	case "contact_id":
		return fieldRef{kind: fkID, typ: TString, name: lower}, true
	case "created_at":
		return fieldRef{kind: fkCreatedAt, typ: TTime, name: lower}, true
	case "updated_at":
		return fieldRef{kind: fkUpdatedAt, typ: TTime, name: lower}, true
	case "list_ids":
		return fieldRef{kind: fkListIDs, typ: TArray, name: lower}, true
	case "alternate_emails":
		return fieldRef{kind: fkAltEmails, typ: TArray, name: lower}, true
	case "email_domains":
		return fieldRef{kind: fkEmailDomains, typ: TArray, name: lower}, true
	case "last_clicked", "last_opened", "last_emailed", "singlesend_id", "automation_id":
		return fieldRef{kind: fkNotQueryable, name: lower}, true
	}
	return fieldRef{}, false
}

func (c *Catalog) lookup(name string) (fieldRef, bool) {
	lower := strings.ToLower(name)
	if f, ok := reservedByName(lower); ok {
		return f, true
	}
	if c == nil {
		return fieldRef{}, false
	}
	i, ok := c.byName[lower]
	if !ok {
		return fieldRef{}, false
	}
	cf := c.custom[i]
	f := fieldRef{kind: fkCustom, slot: i, name: cf.Name, id: cf.ID}
	switch cf.Type {
	case Text:
		f.typ = TString
	case Number:
		f.typ = TNumber
	case Date:
		f.typ = TTime
	}
	return f, true
}

// eventCol is a column of event_data.
type eventCol uint8

const (
	ecContactID eventCol = iota
	ecSource
	ecType
	ecTimestamp
	ecSinglesendID
	ecAutomationID
	ecCampaignID
	ecURL
)

func (e eventCol) name() string {
	switch e {
	case ecContactID:
		return "contact_id"
	case ecSource:
		return "event_source"
	case ecType:
		return "event_type"
	case ecTimestamp:
		return "event_timestamp"
	case ecSinglesendID:
		return "singlesend_id"
	case ecAutomationID:
		return "automation_id"
	case ecCampaignID:
		return "marketing_campaign_id"
	}
	return "url"
}

func eventColByName(lower string) (eventCol, bool) {
	for e := ecContactID; e <= ecURL; e++ {
		if e.name() == lower {
			return e, true
		}
	}
	return 0, false
}

// eventTypes are SendGrid's Event Webhook event names, the values of
// event_data.event_type, in the order SendGrid's documents list them: the
// one list segmentd knows them by (the webhook refuses any other). past is
// the past-tense form SendGrid's own 2.0 examples use ("opened",
// "clicked"), which means the same events.
var eventTypes = [...]struct{ name, past string }{
	{"processed", ""},
	{"delivered", ""},
	{"deferred", ""},
	{"dropped", ""},
	{"bounce", "bounced"},
	{"open", "opened"},
	{"click", "clicked"},
	{"spamreport", "spamreported"},
	{"unsubscribe", "unsubscribed"},
	{"group_unsubscribe", "group_unsubscribed"},
	{"group_resubscribe", "group_resubscribed"},
}

// EventTypes returns SendGrid's Event Webhook event names, the values
// event_data.event_type holds.
func EventTypes() []string {
	out := make([]string, len(eventTypes))
	for i, t := range eventTypes {
		out[i] = t.name
	}
	return out
}

// EventTypeName returns the Event Webhook name that s, in any letter case
// and in the past tense too, means, and true; or s and false when s names
// no event SendGrid's Event Webhook sends.
func EventTypeName(s string) (string, bool) {
	l := strings.ToLower(s)
	for _, t := range eventTypes {
		if l == t.name || l == t.past && t.past != "" {
			return t.name, true
		}
	}
	return s, false
}

// NormalizeEventType maps an event type as written in a query or received
// from a webhook to SendGrid's Event Webhook name (EventTypeName); a type
// it does not know is returned as it is.
func NormalizeEventType(s string) string {
	n, _ := EventTypeName(s)
	return n
}
