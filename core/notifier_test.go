package core

import (
	"testing"
	"time"
)

func TestNotifierWakesWaiters(t *testing.T) {
	var n Notifier
	ch := n.Changed()
	select {
	case <-ch:
		t.Fatal("channel closed before any change")
	default:
	}
	n.Notify()
	select {
	case <-ch:
	case <-time.After(time.Second):
		t.Fatal("Notify did not wake the waiter")
	}
	if n.Changed() == ch {
		t.Error("Changed after Notify returned the spent channel")
	}
}
