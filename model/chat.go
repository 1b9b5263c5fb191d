package model

import (
	"errors"
	"fmt"

	"github.com/tabshard/tabshard/model/chattemplate"
	"github.com/tabshard/tabshard/model/gguf"
)

// ChatTemplate returns the model's chat template (GGUF key
// tokenizer.chat_template) compiled with its BOS and EOS texts, and true;
// or chattemplate.Fallback() and false when the file has none. A template
// that does not compile is an error wrapping chattemplate.ErrTemplate,
// returned with a chattemplate.Unusable template that reports it.
func (m *Model) ChatTemplate() (*chattemplate.Template, bool, error) {
	m.chatOnce.Do(func() { m.chat, m.chatFromFile, m.chatErr = m.loadChatTemplate() })
	return m.chat, m.chatFromFile, m.chatErr
}

func (m *Model) loadChatTemplate() (*chattemplate.Template, bool, error) {
	src, err := m.File.String(chattemplate.MetadataKey)
	if errors.Is(err, gguf.ErrMissingKey) || (err == nil && src == "") {
		return chattemplate.Fallback(), false, nil
	}
	if err != nil {
		err = fmt.Errorf("%w: %v", chattemplate.ErrTemplate, err)
		return chattemplate.Unusable(err), true, err
	}
	tok := m.Tokenizer
	t, err := chattemplate.Parse(src, tok.Token(tok.BOS()), tok.Token(tok.EOS()))
	if err != nil {
		return chattemplate.Unusable(err), true, err
	}
	return t, true, nil
}
