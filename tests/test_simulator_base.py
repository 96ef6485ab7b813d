import httpx
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from providers.simulators.base import serve


async def test_serves_app_over_real_http_on_loopback() -> None:
    async def hello(request):
        return JSONResponse({"hello": "world"})

    app = Starlette(routes=[Route("/hello", hello)])
    async with serve(app) as url:
        assert url.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient() as client:
            response = await client.get(f"{url}/hello")
    assert response.json() == {"hello": "world"}
