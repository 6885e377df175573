"""Glance v2: discovery, images list (with filters) and get."""

from __future__ import annotations

from aiohttp import web

from workbench.sandbox.cloud import errors
from workbench.sandbox.cloud.store import Resource, Store, new_id, now
from workbench.sandbox.cloud.web import cloud, reply

routes = web.RouteTableDef()
_FILTERS = {"name", "status", "visibility", "os_hidden", "member_status", "owner", "tag",
            "disk_format", "container_format", "id"}
_PAGING = {"limit", "marker", "sort", "sort_key", "sort_dir"}


def create_image(store: Store, name: str, size: int = 244_056_064) -> Resource:
    stamp = now()
    image_id = new_id()
    image: Resource = {
        "id": image_id, "name": name, "status": "active", "visibility": "public",
        "os_hidden": False, "protected": False, "disk_format": "qcow2",
        "container_format": "bare", "size": size, "virtual_size": 3_221_225_472,
        "min_disk": 0, "min_ram": 0, "checksum": new_id().replace("-", ""),
        "os_hash_algo": "sha512", "os_hash_value": (new_id() * 4).replace("-", "")[:128],
        "owner": store.project_id, "created_at": stamp, "updated_at": stamp, "tags": [],
        "self": f"/v2/images/{image_id}", "file": f"/v2/images/{image_id}/file",
        "schema": "/v2/schemas/image", "os_distro": "fedora", "os_version": "21",
    }
    store.images[image_id] = image
    return image


@routes.get("/image")
@routes.get("/image/")
@routes.get("/image/versions")
async def versions(request: web.Request) -> web.Response:
    base = cloud(request).url("image")
    docs = [{"id": f"v2.{minor}", "status": "CURRENT" if minor == 16 else "SUPPORTED",
             "links": [{"rel": "self", "href": f"{base}/v2/"}]} for minor in (16, 15, 9, 0)]
    return reply({"versions": docs}, status=300 if request.path != "/image/versions" else 200)


def _visible(request: web.Request, image: Resource) -> bool:
    for key in set(request.query.keys()):
        value = request.query.get(key, "")
        if key in _PAGING:
            continue
        if key not in _FILTERS:
            cloud(request).record_unimplemented(request, f"filter {key}")
        elif key == "os_hidden":
            if str(image["os_hidden"]).lower() != value.lower():
                return False
        elif key == "tag":
            if value not in image["tags"]:
                return False
        elif key in image and str(image[key]) != value:
            return False
    return "os_hidden" in request.query or not image["os_hidden"]


@routes.get("/image/v2/images")
async def list_images(request: web.Request) -> web.Response:
    images = [i for i in cloud(request).store.images.values() if _visible(request, i)]
    return reply({"images": images, "schema": "/v2/schemas/images", "first": "/v2/images"})


@routes.get("/image/v2/images/{id}")
async def show_image(request: web.Request) -> web.Response:
    image = cloud(request).store.images.get(request.match_info["id"])
    if image is None:
        raise errors.glance(404, f"No image found with ID {request.match_info['id']}")
    return reply(image)


