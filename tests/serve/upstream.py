"""A stand-in OpenAI-compatible model server for proxy-mode tests (what vLLM would be).

Its answer is chosen by the request, so tests need no model:
- a body field "stand_in_reply" (an extra field the proxy passes through) is the answer, else
  it is "Echo: <last user text>";
- "[500]" in the user text answers HTTP 500, "[slow]" sleeps past any test timeout;
- "stand_in_delay" (seconds) spaces streamed tokens; `/progress` says how many tokens
  the last stream has sent, so a test can see that the proxy forwards before the answer ends.
Streaming sends one whitespace-delimited word per chunk, as a token stream would.
"""

from __future__ import annotations

import asyncio
import json
import re
import time

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

WORDS = re.compile(r"\S+\s*|\s+")


def upstream_app() -> FastAPI:
    app = FastAPI()
    progress = {"sent": 0, "total": 0, "requests": 0}
    app.state.progress = progress

    def plan(body: dict) -> tuple[str, float, str | None]:
        user = [m.get("content") or "" for m in body["messages"] if m["role"] == "user"][-1]
        reply = body.get("stand_in_reply") or f"Echo: {user}"
        delay = float(body.get("stand_in_delay") or 0.0)
        special = "500" if "[500]" in user else "slow" if "[slow]" in user else None
        return reply, delay, special

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": "stand-in-llm", "object": "model"}]}

    @app.get("/progress")
    async def get_progress():
        return progress

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        progress["requests"] += 1
        if body.get("model") != "stand-in-llm":
            return JSONResponse(
                {"error": {"message": f"model {body.get('model')} not found", "type": "x"}}, 404
            )
        reply, delay, special = plan(body)
        if special == "500":
            return JSONResponse({"error": {"message": "boom", "type": "server_error"}}, 500)
        if special == "slow":
            await asyncio.sleep(30)
        words = WORDS.findall(reply)
        usage = {
            "prompt_tokens": 5,
            "completion_tokens": len(words),
            "total_tokens": 5 + len(words),
        }
        if not body.get("stream"):
            return {
                "id": "up-1",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": reply},
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
            }

        async def events():
            progress.update(sent=0, total=len(words))
            head = {"id": "up-1", "object": "chat.completion.chunk", "model": body["model"]}
            first = {"index": 0, "delta": {"role": "assistant", "content": ""}}
            yield f"data: {json.dumps({**head, 'choices': [first]})}\n\n"
            for word in words:
                if delay:
                    await asyncio.sleep(delay)
                chunk = {"index": 0, "delta": {"content": word}, "finish_reason": None}
                progress["sent"] += 1
                yield f"data: {json.dumps({**head, 'choices': [chunk]})}\n\n"
            last = {"index": 0, "delta": {}, "finish_reason": "stop"}
            yield f"data: {json.dumps({**head, 'choices': [last], 'usage': usage})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app
