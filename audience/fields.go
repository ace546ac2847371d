package audience

import (
	"context"

	"github.com/segmentd/segmentd"
)

// FieldDefinitions returns the account's custom fields.
func (s *Service) FieldDefinitions(ctx context.Context, acct int64) ([]segmentd.FieldDefinition, error) {
	return s.store.FieldDefinitions(ctx, acct)
}

// FieldsByID returns the account's custom fields keyed by id.
func (s *Service) FieldsByID(ctx context.Context, acct int64) (map[string]segmentd.FieldDefinition, error) {
	defs, err := s.store.FieldDefinitions(ctx, acct)
	if err != nil {
		return nil, err
	}
	m := make(map[string]segmentd.FieldDefinition, len(defs))
	for _, d := range defs {
		m[d.ID] = d
	}
	return m, nil
}

// CreateField creates a custom field definition.
func (s *Service) CreateField(ctx context.Context, acct int64, name string, t segmentd.FieldType) (segmentd.FieldDefinition, error) {
	return s.createField(ctx, acct, name, t, s.cfg.MaxCustomFields)
}

// CreateCCField creates a custom field definition through Constant
// Contact's face, which allows an account segmentd.MaxCCCustomFields
// fields (or the Service's own limit, when lower): the same definitions,
// counted with those SendGrid's face created.
func (s *Service) CreateCCField(ctx context.Context, acct int64, name string, t segmentd.FieldType) (segmentd.FieldDefinition, error) {
	return s.createField(ctx, acct, name, t, min(segmentd.MaxCCCustomFields, s.cfg.MaxCustomFields))
}

func (s *Service) createField(ctx context.Context, acct int64, name string, t segmentd.FieldType, max int) (segmentd.FieldDefinition, error) {
	if err := segmentd.ValidateFieldName(name); err != nil {
		return segmentd.FieldDefinition{}, err
	}
	switch t {
	case segmentd.FieldText, segmentd.FieldNumber, segmentd.FieldDate:
	default:
		return segmentd.FieldDefinition{}, segmentd.Errorf(segmentd.KindInvalid, "field_type", "field_type must be one of Text, Number, Date")
	}
	f, err := s.store.CreateFieldDefinition(ctx, acct, name, t, max, s.clock.Now())
	if err != nil {
		return f, err
	}
	return f, s.reflectErr(ctx, acct, func() error { return s.fieldsChanged(ctx, acct) })
}

// RenameField renames a custom field; its type never changes. Stored values
// are keyed by id, so contacts keep their values under the new name.
func (s *Service) RenameField(ctx context.Context, acct int64, id, name string) (segmentd.FieldDefinition, error) {
	if isReservedFieldID(id) {
		return segmentd.FieldDefinition{}, segmentd.Errorf(segmentd.KindInvalid, "custom_field_id", "reserved field %q cannot be updated", id)
	}
	if err := segmentd.ValidateFieldName(name); err != nil {
		return segmentd.FieldDefinition{}, err
	}
	f, err := s.store.RenameFieldDefinition(ctx, acct, id, name)
	if err != nil {
		return f, err
	}
	return f, s.reflectErr(ctx, acct, func() error { return s.fieldsChanged(ctx, acct) })
}

// DeleteField deletes a custom field and its value on every contact.
func (s *Service) DeleteField(ctx context.Context, acct int64, id string) error {
	if isReservedFieldID(id) {
		return segmentd.Errorf(segmentd.KindInvalid, "custom_field_id", "reserved field %q cannot be deleted", id)
	}
	if err := s.store.DeleteFieldDefinition(ctx, acct, id); err != nil {
		return err
	}
	return s.reflectErr(ctx, acct, func() error { return s.fieldsChanged(ctx, acct) })
}

func isReservedFieldID(id string) bool {
	for _, f := range segmentd.ReservedFields {
		if f.ID == id {
			return true
		}
	}
	return false
}
