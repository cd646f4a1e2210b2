package federation

// Messaging is the messaging layer's inbound side: joins, leaves,
// invites, queries, user devices and keys, public rooms and media.
type Messaging struct{}

func (m *Messaging) register(s *Server) {}
