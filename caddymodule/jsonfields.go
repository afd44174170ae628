package caddymodule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// decodeNamed decodes the JSON object b into v, a pointer to a struct (a
// type without the UnmarshalJSON method that calls it), refusing unknown
// fields as Caddy does, and makes an error name the field it comes from.
//
// encoding/json names the field itself only for a value of the wrong JSON
// type (and then by its Go name); an error from a value's own
// UnmarshalJSON, such as caddy.Duration's `time: unknown unit "x" in
// duration "5x"`, comes bare, and in a config with several durations the
// operator cannot tell which one is wrong. When decoding fails, each field
// is decoded again on its own, and the first that fails (the first element
// that fails, for a list) is named by its JSON name: `refresh: time: …`,
// `registers[1].refresh: time: …`.
func decodeNamed(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		return nil
	}
	if named := nameField(b, reflect.TypeOf(v).Elem()); named != nil {
		return named
	}
	return err
}

// nameField decodes each field of the JSON object b on its own into a new
// value of its type in struct type t, and returns the first failure as a
// fieldError, or nil.
func nameField(b []byte, t reflect.Type) error {
	var fields map[string]json.RawMessage
	if t.Kind() != reflect.Struct || json.Unmarshal(b, &fields) != nil {
		return nil
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		raw, ok := fields[name]
		if !f.IsExported() || name == "" || name == "-" || !ok {
			continue
		}
		err := json.Unmarshal(raw, reflect.New(f.Type).Interface())
		if err == nil {
			continue
		}
		if f.Type.Kind() == reflect.Slice {
			var elems []json.RawMessage
			if json.Unmarshal(raw, &elems) == nil {
				for j, e := range elems {
					if err := json.Unmarshal(e, reflect.New(f.Type.Elem()).Interface()); err != nil {
						return &fieldError{path: fmt.Sprintf("%s[%d]", name, j), err: err}
					}
				}
			}
		}
		return &fieldError{path: name, err: err}
	}
	return nil
}

// fieldError is an error in the JSON field at path (`log_limit.interval`,
// `registers[1]`).
type fieldError struct {
	path string
	err  error
}

func (e *fieldError) Error() string {
	if inner, ok := e.err.(*fieldError); ok {
		return e.path + "." + inner.Error()
	}
	return e.path + ": " + e.err.Error()
}

func (e *fieldError) Unwrap() error { return e.err }
