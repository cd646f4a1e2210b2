package clientapi

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"hearth.dev/hearth/core/room"
)

func TestCheckNamesEveryMissingService(t *testing.T) {
	var s Services
	err := s.Check()
	if err == nil {
		t.Fatal("Check of empty Services = nil, want an error")
	}
	// Every field of every area is named.
	v := reflect.ValueOf(s)
	n := 0
	for i := range v.NumField() {
		area := v.Type().Field(i)
		if area.Name == "Settings" || area.Type.Kind() != reflect.Struct {
			continue // plain values, and the optional Reads
		}
		for j := range area.Type.NumField() {
			name := area.Name + "." + area.Type.Field(j).Name
			if !strings.Contains(err.Error(), name+" is missing") {
				t.Errorf("Check error %q does not name %s", err, name)
			}
			n++
		}
	}
	if n < 25 {
		t.Errorf("only %d services checked", n)
	}
}

func TestCheckAcceptsWhatIsSet(t *testing.T) {
	s := Services{RoomServices: RoomServices{Rooms: &room.Pipeline{},
		IsJoined: func(context.Context, string, string) (bool, error) { return true, nil }}}
	err := s.Check()
	if err == nil || strings.Contains(err.Error(), "RoomServices") {
		t.Errorf("Check with the room services set = %v, want other areas named, not RoomServices", err)
	}
}
