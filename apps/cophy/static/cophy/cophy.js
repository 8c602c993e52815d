// Chorus CoPhy: draws a physical scene from its stored states with three.js and runs the
// participant's study and the researcher's replay. An ES module, no build step.
//
// * three.js is the vendored module (static/cophy/vendor/three), imported from the URL the
//   template puts in data-three, so hashed static names work in production.
// * States arrive as float32 .npy files (participants: A → B, and the first frames of A and C)
//   or inline JSON (the researcher's replay); both become a Track of (T, K, 7) poses:
//   position x, y, z and quaternion x, y, z, w, z up as in PyBullet.
// * Playback runs at the dataset's 5 frames per second; between two stored frames positions
//   are interpolated linearly and orientations by slerp, so motion is smooth.
// * The page exposes its state on the root's data-state: loading, ready, playing, paused,
//   ended (A → B watched to the end), unavailable (no WebGL) or error.
// * The server keeps the real checks: it refuses an answer before A → B could have been
//   watched (the play reports below), and any click outside the ground plane.

const GHOST_OPACITY = 0.22;
const HIGHLIGHT = 0xff7a00;
const KEY_STEP = 0.1;
const KEY_STEP_FAST = 0.5;

let threeModule = null;

function loadThree(url) {
  if (!threeModule) threeModule = import(url);
  return threeModule;
}

export function webglAvailable() {
  try {
    const canvas = document.createElement("canvas");
    return Boolean(
      window.WebGLRenderingContext && (canvas.getContext("webgl2") || canvas.getContext("webgl"))
    );
  } catch (error) {
    return false;
  }
}

// --- states ----------------------------------------------------------------------------------

export function parseNpy(buffer) {
  const bytes = new Uint8Array(buffer);
  const magic = String.fromCharCode(...bytes.slice(1, 6));
  if (bytes[0] !== 0x93 || magic !== "NUMPY") throw new Error("not a .npy file");
  const view = new DataView(buffer);
  const major = bytes[6];
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const offset = (major === 1 ? 10 : 12) + headerLength;
  const header = new TextDecoder("latin1").decode(bytes.slice(offset - headerLength, offset));
  if (!/'descr':\s*'<f4'/.test(header)) throw new Error("expected little-endian float32");
  if (/'fortran_order':\s*True/.test(header)) throw new Error("expected C order");
  const shape = header.match(/'shape':\s*\(([^)]*)\)/)[1]
    .split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  return { shape, data: new Float32Array(buffer.slice(offset)) };
}

class Track {
  // Poses (T, K, 7) from a flat Float32Array or from nested lists.
  constructor(T, K, get) { this.T = T; this.K = K; this.get = get; }

  static fromNpy(array) {
    const [T, K, D] = array.shape;
    return new Track(T, K, (t, k) => {
      const i = (t * K + k) * D;
      return array.data.subarray(i, i + 7);
    });
  }

  static fromLists(frames) {
    return new Track(frames.length, frames[0].length, (t, k) => frames[t][k]);
  }

  // Positions only (T, K, 3) with every orientation taken from one frame of another track.
  static fromPositions(positions, orientation) {
    return new Track(positions.length, positions[0].length, (t, k) => {
      const q = orientation.get(0, k);
      const p = positions[t][k];
      return [p[0], p[1], p[2], q[3], q[4], q[5], q[6]];
    });
  }

  present(k, t = 0) {
    const p = this.get(t, k);
    return Math.abs(p[0]) + Math.abs(p[1]) + Math.abs(p[2]) > 0;
  }
}

async function fetchTrack(url) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`could not load the scene (${response.status})`);
  return Track.fromNpy(parseNpy(await response.arrayBuffer()));
}

// --- drawing ---------------------------------------------------------------------------------

// Every live view, so the WebGL contexts of an item swapped out are given back (a browser
// keeps only a few, and drops the oldest once there are too many).
const views = new Set();

function disposeDetached() {
  for (const view of views) {
    if (view.canvas.isConnected) continue;
    view.renderer.dispose();
    view.renderer.forceContextLoss();
    views.delete(view);
  }
}

class View {
  constructor(THREE, canvas, spec) {
    views.add(this);
    this.THREE = THREE;
    this.canvas = canvas;
    this.spec = spec;
    this.renderer = new THREE.WebGLRenderer({ canvas, antialias: true });
    this.renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
    this.scene = new THREE.Scene();
    this.scene.background = new THREE.Color(0xf3f5f9);
    this.scene.fog = new THREE.Fog(0xf3f5f9, 30, 70);
    const cam = spec.camera;
    this.camera = new THREE.PerspectiveCamera(cam.fov, 4 / 3, 0.1, 200);
    this.camera.up.set(0, 0, 1);
    this.camera.position.set(...cam.position);
    this.camera.lookAt(new THREE.Vector3(...cam.target));
    this.scene.add(new THREE.HemisphereLight(0xffffff, 0x7d8699, 2.2));
    const sun = new THREE.DirectionalLight(0xffffff, 2.2);
    sun.position.set(3, -4, 14);
    // Shadows on the ground tell where an object is in depth (a ball in the air or not).
    this.renderer.shadowMap.enabled = true;
    this.renderer.shadowMap.type = THREE.PCFShadowMap;
    sun.castShadow = true;
    sun.shadow.mapSize.set(1024, 1024);
    sun.shadow.bias = -0.0008;
    sun.shadow.normalBias = 0.03;
    Object.assign(sun.shadow.camera, { left: -9, right: 9, top: 9, bottom: -9, near: 1, far: 40 });
    this.scene.add(sun);
    this.addGround();
    this.bodies = new Map();
    for (const object of spec.objects) {
      const body = this.mesh(object, { color: object.hex });
      this.scene.add(body);
      this.bodies.set(object.slot, body);
    }
    this.resize();
  }

  addGround() {
    const THREE = this.THREE;
    const [x0, x1] = this.spec.plane.x;
    const [y0, y1] = this.spec.plane.y;
    // The floor runs to the horizon; the gridded square is the plane a click may land on.
    const floor = new THREE.Mesh(
      new THREE.PlaneGeometry(200, 200),
      new THREE.MeshStandardMaterial({ color: 0xe4e7ed, roughness: 1 })
    );
    floor.receiveShadow = true;
    this.scene.add(floor);
    const ground = new THREE.Mesh(
      new THREE.PlaneGeometry(x1 - x0, y1 - y0),
      new THREE.MeshStandardMaterial({ color: 0xd3d8e1, roughness: 0.95 })
    );
    ground.position.set((x0 + x1) / 2, (y0 + y1) / 2, 0.001);
    ground.receiveShadow = true;
    this.scene.add(ground);
    this.ground = ground;
    const size = Math.max(x1 - x0, y1 - y0);
    const grid = new THREE.GridHelper(size, Math.round(size), 0x9aa3b5, 0xbfc6d3);
    grid.rotation.x = Math.PI / 2; // GridHelper lies in x-z; the ground here is x-y
    grid.position.set((x0 + x1) / 2, (y0 + y1) / 2, 0.003);
    this.scene.add(grid);
    const walls = this.spec.walls;
    if (walls) {
      const material = new THREE.MeshStandardMaterial({ color: 0x9aa3b5, roughness: 0.8 });
      const { half, thick, height } = walls;
      for (const [x, y, w, d] of [
        [0, half + thick / 2, 2 * (half + thick), thick], [0, -half - thick / 2, 2 * (half + thick), thick],
        [half + thick / 2, 0, thick, 2 * half], [-half - thick / 2, 0, thick, 2 * half],
      ]) {
        const wall = new THREE.Mesh(new THREE.BoxGeometry(w, d, height), material);
        wall.position.set(x, y, height / 2);
        this.scene.add(wall);
      }
    }
  }

  geometry(shape) {
    const THREE = this.THREE;
    const size = this.spec.sizes[shape] || this.spec.sizes.cube;
    if (shape === "cube") return new THREE.BoxGeometry(2 * size.half, 2 * size.half, 2 * size.half);
    if (shape === "sphere") return new THREE.SphereGeometry(size.radius, 40, 20);
    const cylinder = new THREE.CylinderGeometry(size.radius, size.radius, size.height, 40);
    cylinder.rotateX(Math.PI / 2); // three.js cylinders stand along y; PyBullet's along z
    return cylinder;
  }

  mesh(object, { color, opacity = 1, edges = null, scale = 1 }) {
    const THREE = this.THREE;
    const geometry = this.geometry(object.shape);
    const material = new THREE.MeshStandardMaterial({
      color, roughness: 0.55, metalness: 0.05,
      transparent: opacity < 1, opacity, depthWrite: opacity >= 1,
    });
    const mesh = new THREE.Mesh(geometry, material);
    mesh.castShadow = opacity >= 1;
    const group = new THREE.Group();
    group.add(mesh);
    if (edges !== null) {
      const lines = new THREE.LineSegments(
        new THREE.EdgesGeometry(geometry, 30),
        new THREE.LineBasicMaterial({ color: edges })
      );
      group.add(lines);
    }
    group.scale.setScalar(scale);
    return group;
  }

  place(group, pose) {
    group.position.set(pose[0], pose[1], pose[2]);
    group.quaternion.set(pose[3], pose[4], pose[5], pose[6]);
  }

  // Every body at time t (frames, fractional) of the track; absent bodies are hidden.
  setTime(track, t) {
    const THREE = this.THREE;
    const last = track.T - 1;
    const time = Math.max(0, Math.min(t, last));
    const i = Math.min(Math.floor(time), Math.max(last - 1, 0));
    const f = last > 0 ? time - i : 0;
    const qa = new THREE.Quaternion();
    const qb = new THREE.Quaternion();
    for (const [slot, body] of this.bodies) {
      if (!track.present(slot)) { body.visible = false; continue; }
      body.visible = true;
      const a = track.get(i, slot);
      const b = track.get(Math.min(i + 1, last), slot);
      body.position.set(
        a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f
      );
      qa.set(a[3], a[4], a[5], a[6]);
      qb.set(b[3], b[4], b[5], b[6]);
      body.quaternion.slerpQuaternions(qa, qb, f);
    }
  }

  resize() {
    const width = this.canvas.clientWidth || 480;
    const height = this.canvas.clientHeight || 360;
    this.renderer.setSize(width, height, false);
    this.camera.aspect = width / height;
    this.camera.updateProjectionMatrix();
  }

  render() { this.renderer.render(this.scene, this.camera); }

  // The ground-plane point under a pointer event, or null off the plane.
  groundPoint(event) {
    const THREE = this.THREE;
    const rect = this.canvas.getBoundingClientRect();
    const pointer = new THREE.Vector2(
      ((event.clientX - rect.left) / rect.width) * 2 - 1,
      -((event.clientY - rect.top) / rect.height) * 2 + 1
    );
    const ray = new THREE.Raycaster();
    ray.setFromCamera(pointer, this.camera);
    const plane = new THREE.Plane(new THREE.Vector3(0, 0, 1), 0);
    const hit = new THREE.Vector3();
    if (!ray.ray.intersectPlane(plane, hit)) return null;
    return { x: hit.x, y: hit.y };
  }

  // The screen position (CSS pixels in the canvas) of a world point, for tests and labels.
  screenOf(x, y, z = 0) {
    const v = new this.THREE.Vector3(x, y, z).project(this.camera);
    const rect = this.canvas.getBoundingClientRect();
    return { x: (v.x + 1) / 2 * rect.width, y: (1 - v.y) / 2 * rect.height };
  }
}

// --- the intervention, drawn on C --------------------------------------------------------------

function highlight(view, spec, start) {
  const THREE = view.THREE;
  const change = spec.intervention || {};
  const slot = change.object;
  const byslot = new Map(spec.objects.map((o) => [o.slot, o]));
  const object = byslot.get(slot);
  if (object === undefined || slot === null) return;
  const before = start.get(0, slot);
  if (change.kind === "remove") {
    // The removed block: a ghost where it stood in A.
    const ghost = view.mesh(object, { color: object.hex, opacity: GHOST_OPACITY, edges: 0x333a48 });
    view.place(ghost, before);
    view.scene.add(ghost);
    return;
  }
  const after = start.get(1, slot);
  // The moved object: outlined where it is now (a slightly larger shell showing only its
  // back faces: an orange rim around any shape), a ghost where it was, an arrow between.
  const outline = new THREE.Mesh(
    view.geometry(object.shape),
    new THREE.MeshBasicMaterial({ color: HIGHLIGHT, side: THREE.BackSide })
  );
  outline.scale.setScalar(1.14);
  view.place(outline, after);
  view.scene.add(outline);
  const ghost = view.mesh(object, { color: object.hex, opacity: GHOST_OPACITY, edges: 0x6b7385 });
  view.place(ghost, before);
  view.scene.add(ghost);
  const from = new THREE.Vector3(before[0], before[1], before[2]);
  const to = new THREE.Vector3(after[0], after[1], after[2]);
  const length = from.distanceTo(to);
  if (length > 1e-3) {
    const lift = object.shape === "cube" ? 0 : 0.05;
    from.z += lift; to.z += lift;
    const arrow = new THREE.ArrowHelper(
      to.clone().sub(from).normalize(), from, length, HIGHLIGHT,
      Math.min(0.35, length * 0.4), Math.min(0.22, length * 0.3)
    );
    view.scene.add(arrow);
  }
}

function targetRing(view, spec, start) {
  const THREE = view.THREE;
  if (spec.target === null || spec.target === undefined) return;
  const pose = start.get(1, spec.target);
  const object = spec.objects.find((o) => o.slot === spec.target);
  const radius = ((spec.sizes[object.shape] || {}).radius || 0.5) + 0.12;
  const ring = new THREE.Mesh(
    new THREE.RingGeometry(radius, radius + 0.08, 48),
    new THREE.MeshBasicMaterial({ color: 0x1d2330, side: THREE.DoubleSide })
  );
  ring.position.set(pose[0], pose[1], 0.004);
  view.scene.add(ring);
}

// --- the participant's study -----------------------------------------------------------------

function csrf(element) {
  const form = element.closest("form") || document;
  const input = form.querySelector("input[name=csrfmiddlewaretoken]");
  return input ? input.value : "";
}

function report(root, url, event) {
  if (!url) return Promise.resolve();
  return fetch(url, {
    method: "POST",
    body: new URLSearchParams({ event }),
    headers: { "X-CSRFToken": csrf(root) },
    credentials: "same-origin",
  }).catch(() => { /* the server refuses the answer if a report was lost */ });
}

class Player {
  // Plays a track on a view at fps frames per second; reports start and end.
  constructor(view, track, fps, { onState, onStart, onEnd }) {
    Object.assign(this, { view, track, fps, onState, onStart, onEnd });
    this.t = 0;
    this.state = "ready";
    this.startedAt = null;
    this.frame = null;
  }

  set(state) { this.state = state; this.onState(state, this.t); }

  play() {
    if (this.state === "playing") return;
    if (this.state === "ended" || this.state === "ready") {
      this.t = 0;
      this.onStart();
    }
    this.startedAt = performance.now() - (this.t / this.fps) * 1000;
    this.set("playing");
    const tick = (now) => {
      if (this.state !== "playing") return;
      const elapsed = Math.max(0, now - this.startedAt); // a frame stamped before the click
      this.t = Math.min((elapsed / 1000) * this.fps, this.track.T - 1);
      this.view.setTime(this.track, this.t);
      this.view.render();
      this.onState("playing", this.t);
      if (this.t >= this.track.T - 1) { this.set("ended"); this.onEnd(); return; }
      this.frame = requestAnimationFrame(tick);
    };
    this.frame = requestAnimationFrame(tick);
  }

  pause() {
    if (this.state !== "playing") return;
    cancelAnimationFrame(this.frame);
    this.set("paused");
  }

  replay() {
    cancelAnimationFrame(this.frame);
    this.state = "ended";
    this.play();
  }
}

function seconds(frames, fps) { return (frames / fps).toFixed(1); }

function setState(root, state) { root.dataset.state = state; }

function unavailable(root, text) {
  setState(root, "unavailable");
  const box = root.querySelector("[data-unavailable]");
  if (box) {
    box.hidden = false;
    if (text) box.querySelector("[data-unavailable-text]").textContent = text;
  }
  root.querySelectorAll("[data-view-panel]").forEach((panel) => { panel.hidden = true; });
}

function unlock(root) {
  root.dataset.watched = "1";
  root.querySelectorAll("[data-after-watch]").forEach((el) => { el.classList.remove("locked"); });
  const fieldset = root.querySelector("[data-answer]");
  if (fieldset) fieldset.disabled = false;
}

function clickAnswer(root, view, spec, start) {
  const THREE = view.THREE;
  const canvas = view.canvas;
  const fieldX = root.querySelector("input[name=x]");
  const fieldY = root.querySelector("input[name=y]");
  const readout = root.querySelector("[data-click-readout]");
  const [x0, x1] = spec.plane.x;
  const [y0, y1] = spec.plane.y;
  const object = spec.objects.find((o) => o.slot === spec.target);
  const targetPose = start.get(1, spec.target);
  const marker = new THREE.Group();
  const radius = ((spec.sizes[object.shape] || {}).radius || 0.5);
  const disc = new THREE.Mesh(
    new THREE.RingGeometry(0.04, radius * 0.9, 40),
    new THREE.MeshBasicMaterial({ color: HIGHLIGHT, side: THREE.DoubleSide, transparent: true, opacity: 0.85 })
  );
  disc.position.z = 0.006;
  marker.add(disc);
  const ghost = view.mesh(object, { color: object.hex, opacity: 0.45, edges: HIGHLIGHT });
  ghost.position.z = targetPose[2];
  marker.add(ghost);
  marker.visible = false;
  view.scene.add(marker);
  let point = null;

  function show() {
    marker.visible = true;
    marker.position.set(point.x, point.y, 0);
    fieldX.value = point.x.toFixed(3);
    fieldY.value = point.y.toFixed(3);
    readout.textContent = `Your answer: the ${object.label} ends at x = ${point.x.toFixed(2)}, ` +
      `y = ${point.y.toFixed(2)} (the ground runs from ${x0} to ${x1}).`;
    const at = view.screenOf(point.x, point.y);
    canvas.dataset.markerX = at.x.toFixed(1);
    canvas.dataset.markerY = at.y.toFixed(1);
    view.render();
  }

  function put(x, y) {
    point = { x: Math.max(x0, Math.min(x1, x)), y: Math.max(y0, Math.min(y1, y)) };
    show();
  }

  if (fieldX.value !== "" && fieldY.value !== "") put(Number(fieldX.value), Number(fieldY.value));

  canvas.addEventListener("click", (event) => {
    if (root.dataset.watched !== "1") return;
    const hit = view.groundPoint(event);
    if (hit === null) return;
    canvas.focus();
    put(hit.x, hit.y);
  });
  canvas.addEventListener("keydown", (event) => {
    if (root.dataset.watched !== "1") return;
    const step = event.shiftKey ? KEY_STEP_FAST : KEY_STEP;
    const moves = {
      ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, step], ArrowDown: [0, -step],
    };
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      if (point === null) put(targetPose[0], targetPose[1]);
      return;
    }
    if (!(event.key in moves)) return;
    event.preventDefault();
    if (point === null) { put(targetPose[0], targetPose[1]); return; }
    put(point.x + moves[event.key][0], point.y + moves[event.key][1]);
  });
  // For tests and assistive tools: where on the canvas a ground point is.
  canvas.cophyScreenOf = (x, y) => view.screenOf(x, y);
}

async function study(root) {
  const spec = JSON.parse(root.querySelector("script[type=\"application/json\"]").textContent);
  setState(root, "loading");
  if (!webglAvailable()) { unavailable(root); return; }
  let THREE;
  let start;
  let ab = null;
  try {
    THREE = await loadThree(root.dataset.three);
    start = await fetchTrack(spec.start_url);
    if (spec.ab_url) ab = await fetchTrack(spec.ab_url);
  } catch (error) {
    setState(root, "error");
    const box = root.querySelector("[data-load-error]");
    if (box) { box.hidden = false; box.textContent = `The scene could not be loaded: ${error.message}. Reload the page to try again.`; }
    return;
  }
  let cView;
  try {
    cView = new View(THREE, root.querySelector("canvas[data-view=c]"), spec);
  } catch (error) {
    unavailable(root); // WebGL exists but no context could be made (a blocked GPU)
    return;
  }
  cView.setTime(Track.fromLists([[...Array(start.K).keys()].map((k) => start.get(1, k))]), 0);
  highlight(cView, spec, start);
  if (spec.question === "click") {
    targetRing(cView, spec, start);
    clickAnswer(root, cView, spec, start);
  }
  cView.render();

  if (ab === null) { // C only: nothing to watch first
    unlock(root);
    setState(root, "ready");
    return;
  }
  const abView = new View(THREE, root.querySelector("canvas[data-view=ab]"), spec);
  abView.setTime(ab, 0);
  abView.render();
  const playButton = root.querySelector("[data-play]");
  const replayButton = root.querySelector("[data-replay]");
  const clock = root.querySelector("[data-clock]");
  const bar = root.querySelector("[data-timeline]");
  const total = seconds(ab.T - 1, spec.fps);
  let reported = null;
  const player = new Player(abView, ab, spec.fps, {
    onState(state, t) {
      setState(root, state === "ended" && root.dataset.watched !== "1" ? "playing" : state);
      clock.textContent = `${seconds(t, spec.fps)} s of ${total} s`;
      bar.value = String(t / (ab.T - 1));
      playButton.textContent = state === "playing" ? "Pause" : state === "paused" ? "Resume" : "Play";
      playButton.setAttribute("aria-pressed", state === "playing" ? "true" : "false");
      // Once it has run to the end, Replay starts it again; while it runs, it restarts it.
      playButton.hidden = state === "ended";
      replayButton.hidden = state === "ready";
    },
    onStart() { reported = report(root, spec.played_url, "started"); },
    onEnd() {
      // Unlock once the server has the end: an answer sent sooner would be refused.
      Promise.resolve(reported).then(() => report(root, spec.played_url, "ended")).then(() => {
        unlock(root);
        setState(root, "ended");
      });
    },
  });
  clock.textContent = `0.0 s of ${total} s`;
  if (spec.watched) unlock(root);
  playButton.addEventListener("click", () => {
    if (player.state === "playing") player.pause(); else player.play();
  });
  replayButton.addEventListener("click", () => player.replay());
  setState(root, spec.watched ? "ended" : "ready");
}

// --- the researcher's replay -----------------------------------------------------------------

async function replay(root) {
  const spec = JSON.parse(root.querySelector("script[type=\"application/json\"]").textContent);
  if (!webglAvailable()) { unavailable(root); return; }
  const THREE = await loadThree(root.dataset.three);
  let view;
  try {
    view = new View(THREE, root.querySelector("canvas[data-view=replay]"), spec);
  } catch (error) { unavailable(root); return; }
  const tracks = { ab: Track.fromLists(spec.ab), cd: Track.fromLists(spec.cd) };
  // The model's predicted D: C's first frame, then its positions, orientations from C.
  let ghosts = null;
  let modelTrack = null;
  if (spec.model) {
    modelTrack = Track.fromPositions([spec.cd[0].map((p) => p.slice(0, 3)), ...spec.model], tracks.cd);
    ghosts = new Map();
    for (const object of spec.objects) {
      const ghost = view.mesh(object, { color: object.hex, opacity: 0.35, edges: 0x1d2330 });
      ghost.visible = false;
      view.scene.add(ghost);
      ghosts.set(object.slot, ghost);
    }
  }
  const clicks = new THREE.Group();
  for (const click of spec.clicks || []) {
    const dot = new THREE.Mesh(
      new THREE.CircleGeometry(0.09, 24),
      new THREE.MeshBasicMaterial({ color: click.condition === "observed" ? 0x3554d1 : 0x9b59b6 })
    );
    dot.position.set(click.x, click.y, 0.006);
    clicks.add(dot);
  }
  if (spec.truth_xy) {
    const cross = new THREE.Mesh(
      new THREE.RingGeometry(0.12, 0.2, 32),
      new THREE.MeshBasicMaterial({ color: 0x1f7a4d, side: THREE.DoubleSide })
    );
    cross.position.set(spec.truth_xy[0], spec.truth_xy[1], 0.008);
    clicks.add(cross);
  }
  clicks.visible = false;
  view.scene.add(clicks);
  let run = "ab";
  let t = 0;
  let playing = false;
  let startedAt = 0;
  const clock = root.querySelector("[data-clock]");
  const showModel = root.querySelector("[data-show-model]");

  function draw() {
    const track = tracks[run];
    view.setTime(track, t);
    clicks.visible = run === "cd";
    if (ghosts) {
      const on = run === "cd" && showModel && showModel.checked;
      const last = modelTrack.T - 1;
      const i = Math.min(Math.floor(t), Math.max(last - 1, 0));
      const f = Math.min(t, last) - i;
      for (const [slot, ghost] of ghosts) {
        ghost.visible = on && tracks.cd.present(slot);
        if (!ghost.visible) continue;
        const a = modelTrack.get(i, slot);
        const b = modelTrack.get(Math.min(i + 1, last), slot);
        ghost.position.set(a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f);
        ghost.quaternion.set(a[3], a[4], a[5], a[6]);
      }
    }
    view.render();
    clock.textContent = `${run === "ab" ? "A → B" : "C → D"}: ${seconds(t, spec.fps)} s of ${seconds(track.T - 1, spec.fps)} s`;
  }

  function play(which) {
    run = which;
    t = 0;
    playing = true;
    setState(root, "playing");
    startedAt = performance.now();
    const tick = (now) => {
      if (!playing) return;
      // A frame's timestamp may come from just before the click: never before the start.
      t = Math.max(0, Math.min(((now - startedAt) / 1000) * spec.fps, tracks[run].T - 1));
      draw();
      if (t >= tracks[run].T - 1) { playing = false; setState(root, "ended"); return; }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }

  root.querySelectorAll("[data-run]").forEach((button) => {
    button.addEventListener("click", () => play(button.dataset.run));
  });
  if (showModel) showModel.addEventListener("change", draw);
  draw();
  setState(root, "ready");
}

// --- start -----------------------------------------------------------------------------------

function init() {
  disposeDetached();
  document.querySelectorAll("[data-cophy]:not([data-cophy-ready])").forEach((root) => {
    root.setAttribute("data-cophy-ready", "");
    const run = root.dataset.cophy === "replay" ? replay : study;
    run(root).catch((error) => {
      setState(root, "error");
      const box = root.querySelector("[data-load-error]");
      if (box) { box.hidden = false; box.textContent = `The scene could not be shown: ${error.message}`; }
    });
  });
}

// A module runs once per page: items swapped in later by htmx are picked up on settle.
if (!window.chorusCophy) {
  window.chorusCophy = true;
  document.addEventListener("htmx:afterSettle", init);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
}
