package wire

// Decoder is a message that can decode its payload.
type Decoder interface {
	Message
	Decode(p []byte) error
}

// New returns an empty message of type t, or nil for an unknown type.
func New(t Type) Decoder {
	switch t {
	case TypeHello:
		return &Hello{}
	case TypeWelcome:
		return &Welcome{}
	case TypeBeginPoint:
		return &BeginPoint{}
	case TypeBlocks:
		return &Blocks{}
	case TypeZero:
		return &Zero{}
	case TypeEndPoint:
		return &EndPoint{}
	case TypeDurable:
		return &Durable{}
	case TypeCommitted:
		return &Committed{}
	case TypeFingerprintsRequest:
		return &FingerprintsRequest{}
	case TypeFingerprints:
		return &Fingerprints{}
	case TypeStatus:
		return &Status{}
	case TypePing:
		return &Ping{}
	case TypePong:
		return &Pong{}
	case TypeError:
		return &Error{}
	}
	return nil
}

// Decode decodes a frame into a new message. For the hot path, decode into a reused value instead.
func Decode(f Frame) (Decoder, error) {
	m := New(f.Type)
	if m == nil {
		return nil, &unknownType{f.Type}
	}
	if err := m.Decode(f.Payload); err != nil {
		return nil, err
	}
	return m, nil
}

type unknownType struct{ t Type }

func (e *unknownType) Error() string { return "unknown frame type " + e.t.String() }
