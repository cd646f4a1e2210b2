package room

// SetSentByViewer turns FilterVisible's shortcut for the viewer's own
// events on or off, and returns what restores it.
func SetSentByViewer(on bool) (restore func()) {
	was := sentByViewerEnabled
	sentByViewerEnabled = on
	return func() { sentByViewerEnabled = was }
}
