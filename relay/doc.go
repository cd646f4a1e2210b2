// Package relay carries a hearth node's federation traffic over one
// WebSocket that the node opens to a relay (`hearth relay`), for nodes that
// cannot accept connections: a browser tab, a laptop behind NAT. It holds
// the wire format (frames), the multiplexed connection both ends share, and
// the node's client; the relay server itself is relay/relayserver.
//
// The relay only carries bytes. It never holds a node's keys: the node
// proves its server key by signing the relay's challenge, requests reach
// the node with their original X-Matrix headers (the node verifies them
// itself), and the node's outbound requests are signed by the node before
// they become frames.
//
// # Wire format, version 1
//
// The node dials wss://RELAY/_hearth/relay/v1/connect (WebSocket
// subprotocol "hearth-relay.v1"). Every WebSocket message is one binary
// message holding exactly one frame: a CBOR map (RFC 8949) with small
// integer keys, at most MaxFrameSize bytes, decoded with duplicate keys and
// indefinite lengths refused. Unknown keys are ignored, so later versions
// may add fields. The keys:
//
//	1  type      unsigned: the frame type below (required)
//	2  id        unsigned: the stream (request) id
//	3  method    text: HTTP method of a request
//	4  target    text: request-target, "/path?query" (always starts with '/')
//	5  host      text: the server name a request is for (outbound: the destination)
//	6  header    map text → array of text: HTTP header fields
//	7  status    unsigned: HTTP status of a response
//	8  body      bytes: (part of) a body, at most ChunkSize bytes
//	9  more      bool: more of this body follows in chunk frames
//	10 version   unsigned: protocol version (handshake)
//	11 nonce     bytes: the relay's challenge (handshake)
//	12 name      text: the node's server name (handshake)
//	13 key_id    text: the node's signing key id, "ed25519:..." (handshake)
//	14 key       bytes: the node's ed25519 public key (handshake)
//	15 token     text: the enrollment token (handshake, first connection)
//	16 sig       bytes: ed25519 signature (handshake)
//	17 reason    text: why (error, cancel)
//	18 queued    unsigned: transactions waiting at the relay (ack)
//
// Frame types:
//
//	1 challenge  relay → node, first frame: version (highest the relay
//	             speaks), nonce (32 random bytes).
//	2 hello      node → relay, answer: version (chosen, ≤ the relay's),
//	             name, key_id, key, token (optional) and sig, the ed25519
//	             signature by the node's server key over
//	             "hearth-relay-v1" 0x00 name 0x00 key_id 0x00 nonce.
//	3 ack        relay → node: the node is accepted as name; queued says how
//	             many stored transactions will be replayed.
//	4 error      either way, then the socket closes: reason.
//	10 request   a request: id, method, target, host, header, body, more.
//	11 response  the answer to request id: status, header, body, more.
//	12 chunk     the next part of request or response id's body: body,
//	             more (false on the last part).
//	13 cancel    the sender gives up stream id (its request, or its answer
//	             to the peer's request): reason.
//	14 ping      either way; the peer answers pong.
//	15 pong      the answer to ping.
//
// Stream ids are chosen by the side that sends the request: the relay uses
// even ids, the node odd ones, so every frame names its stream without
// ambiguity and both directions are multiplexed on the one socket. A body
// longer than ChunkSize is sent as the request's (or response's) first
// ChunkSize bytes with more=true, followed by chunk frames. The relay
// speaks only after the handshake: until an ack, a node gets nothing but
// the challenge and, on failure, an error frame.
//
// The first time, the node presents the enrollment token that `hearth relay
// node add NAME` printed: it is single-use, it expires, and it binds NAME to
// the key that signed the hello. Later connections present the key alone;
// a node can only claim the name bound to its key.
//
// Importing the package has no side effects.
package relay
