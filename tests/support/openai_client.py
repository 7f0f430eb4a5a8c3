"""Drives Chitin's gateway with the unmodified `openai` client: models, a plain completion, a
streamed one, and a wrong key. Prints one JSON object with what it saw."""
import json
import sys

import openai

base_url, token = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=base_url, api_key=token, max_retries=0, timeout=60)
result = {}
result["models"] = [m.id for m in client.models.list().data]
plain = client.chat.completions.create(
    model="main", messages=[{"role": "user", "content": "Say hello."}], user="alice"
)
result["plain"] = plain.choices[0].message.content
result["plain_finish"] = plain.choices[0].finish_reason
result["plain_usage"] = [plain.usage.prompt_tokens, plain.usage.completion_tokens]
stream = client.chat.completions.create(
    model="main",
    messages=[{"role": "user", "content": "Say hello again."}],
    user="alice",
    stream=True,
)
pieces = []
for chunk in stream:
    if chunk.choices and chunk.choices[0].delta.content:
        pieces.append(chunk.choices[0].delta.content)
result["stream_pieces"] = pieces
try:
    client.chat.completions.create(
        model="nope", messages=[{"role": "user", "content": "x"}]
    )
except openai.NotFoundError as err:
    result["unknown_model"] = err.status_code
bad = openai.OpenAI(base_url=base_url, api_key="wrong", max_retries=0)
try:
    bad.models.list()
except openai.AuthenticationError as err:
    result["wrong_key"] = err.status_code
print(json.dumps(result))
