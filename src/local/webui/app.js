// The cluster's web UI (served by src/local/webui.rs at /webui/app.js).
// It polls the master's /master/state and its agents' /slave(N)/state,
// and updates the page in place: rows are kept by key and only the text
// that changed is rewritten, so nothing flickers. A task's sandbox is read
// through /files/browse and /files/read (Mesos's shapes), and its stdout or
// stderr followed by reading what was appended since the last look.
//
// Every string from the cluster (names, ids, labels, messages, file
// contents) is untrusted: it reaches the page only as text (textContent,
// Text nodes), never as markup. Imports nothing.
(function () {
  'use strict';

  var POLL_MS = 500;
  var READ_MAX = 65536;          // bytes per /files/read (Mesos's ceiling)
  var TAIL_START = 1 << 20;      // show at most the last MiB of a file at first
  var TERMINAL = ['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST', 'TASK_ERROR',
    'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR', 'TASK_UNKNOWN'];

  function $(id) { return document.getElementById(id); }

  // -- DOM helpers: text only ------------------------------------------
  function h(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = String(text);
    return e;
  }
  function setText(node, text) {
    text = text == null ? '' : String(text);
    if (node.textContent !== text) node.textContent = text;
  }
  function setClass(node, cls) { if (node.className !== cls) node.className = cls; }
  function setAttr(node, name, value) {
    if (node.getAttribute(name) !== value) node.setAttribute(name, value);
  }
  function show(node, visible) { if (node.hidden === visible) node.hidden = !visible; }

  // Keeps `parent`'s children (after `fixed`, if given) in the order of
  // `items`, one per key: a row is made once by create(item) and refreshed
  // by update(row, item).
  function syncChildren(parent, items, keyOf, create, update, fixed) {
    var old = parent._keyed || new Map();
    var next = new Map();
    var cursor = fixed ? fixed.nextSibling : parent.firstChild;
    items.forEach(function (item) {
      var k = keyOf(item);
      if (next.has(k)) return;
      var node = old.get(k) || create(item);
      update(node, item);
      next.set(k, node);
      if (node === cursor) cursor = cursor.nextSibling;
      else parent.insertBefore(node, cursor);
    });
    old.forEach(function (node, k) { if (!next.has(k)) node.remove(); });
    parent._keyed = next;
  }

  // A list of small items (li) by key.
  function syncList(ul, items, keyOf, fill) {
    syncChildren(ul, items, keyOf, function () { return h('li'); }, fill);
  }

  // A <dl> of [label, value] pairs.
  function syncPairs(dl, pairs) {
    syncChildren(dl, pairs, function (p) { return p[0]; }, function (p) {
      var frag = h('div');
      frag.style.display = 'contents';
      frag.appendChild(h('dt', null, p[0]));
      frag.appendChild(h('dd'));
      return frag;
    }, function (node, p) { setText(node.lastChild, p[1]); });
  }

  // -- formatting ---------------------------------------------------------
  function pad(n, w) { n = String(n); while (n.length < (w || 2)) n = '0' + n; return n; }
  function fmtTime(sec) {
    if (!sec) return '';
    var d = new Date(sec * 1000);
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
      pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }
  function fmtClock(sec) {
    if (!sec) return '';
    var d = new Date(sec * 1000);
    return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()) + '.' +
      pad(d.getMilliseconds(), 3);
  }
  function round(x) { return Math.round(x * 1000) / 1000; }
  function fmtMB(mb) { return mb >= 1024 ? round(mb / 1024) + ' GB' : round(mb) + ' MB'; }
  function fmtBytes(b) {
    if (b < 1024) return b + ' B';
    if (b < 1 << 20) return round(b / 1024) + ' KB';
    if (b < 1 << 30) return round(b / (1 << 20)) + ' MB';
    return round(b / (1 << 30)) + ' GB';
  }
  // "[31000-32000, 33000-33000]" -> the number of ports.
  function portCount(ranges) {
    var n = 0;
    String(ranges || '').replace(/(\d+)-(\d+)/g, function (_, a, b) { n += (+b) - (+a) + 1; return ''; });
    return n;
  }
  function fmtResources(r) {
    if (!r) return '';
    var parts = [];
    if (r.cpus) parts.push('cpus ' + round(r.cpus));
    if (r.gpus) parts.push('gpus ' + round(r.gpus));
    if (r.mem) parts.push('mem ' + fmtMB(r.mem));
    if (r.disk) parts.push('disk ' + fmtMB(r.disk));
    if (r.ports) parts.push('ports ' + r.ports);
    Object.keys(r).sort().forEach(function (k) {
      if (['cpus', 'gpus', 'mem', 'disk', 'ports'].indexOf(k) < 0) parts.push(k + ' ' + r[k]);
    });
    return parts.join(' · ');
  }
  function shortId(id) {
    id = String(id || '');
    var m = /-(S\d+|\d{4,})$/.exec(id);
    return m && id.length > 16 ? '…' + m[0] : id;
  }
  function isTerminal(state) { return TERMINAL.indexOf(state) >= 0; }

  // -- cluster state ----------------------------------------------------------
  var state = null;             // the last /master/state
  var masterId = null;
  var agentStates = new Map();  // agent id -> its /slave(N)/state
  var firstSeen = new Map();    // task key -> when the page first saw it
  var connected = null;

  function getJSON(url) {
    return fetch(url, { cache: 'no-store', credentials: 'same-origin' }).then(function (r) {
      if (!r.ok) throw new Error(url + ': HTTP ' + r.status);
      return r.json();
    });
  }

  function setConnected(ok) {
    if (connected === ok) return;
    connected = ok;
    var c = $('conn');
    setClass(c, 'conn ' + (ok ? 'connected' : 'disconnected'));
    setText(c, ok ? 'connected' : 'disconnected — retrying');
  }

  function poll() {
    getJSON('/master/state').then(function (s) {
      var slaves = s.slaves || [];
      return Promise.all(slaves.map(function (_, i) {
        return getJSON('/slave(' + (i + 1) + ')/state').catch(function () { return null; });
      })).then(function (agents) {
        if (masterId !== null && s.id !== masterId) {
          // Another cluster (a restart): forget what belonged to the old one.
          firstSeen.clear();
          sandbox.root = null;
        }
        masterId = s.id;
        agentStates = new Map();
        agents.forEach(function (a) { if (a && a.id) agentStates.set(a.id, a); });
        state = s;
        setConnected(true);
        render();
      });
    }).catch(function () {
      setConnected(false);
    }).then(function () {
      setTimeout(poll, POLL_MS);
    });
  }

  // Every task the master knows: {t, fw, key, completedFw}.
  function allTasks(s) {
    var out = [];
    function add(fw, list, completedFw) {
      (list || []).forEach(function (t) {
        out.push({ t: t, fw: fw, key: fw.id + '\u0000' + t.id, completedFw: completedFw });
      });
    }
    (s.frameworks || []).forEach(function (fw) {
      add(fw, fw.tasks, false); add(fw, fw.unreachable_tasks, false); add(fw, fw.completed_tasks, false);
    });
    (s.completed_frameworks || []).forEach(function (fw) {
      add(fw, fw.tasks, true); add(fw, fw.unreachable_tasks, true); add(fw, fw.completed_tasks, true);
    });
    var now = Date.now() / 1000;
    out.forEach(function (e) {
      var st = e.t.statuses || [];
      if (!firstSeen.has(e.key)) firstSeen.set(e.key, st.length ? st[0].timestamp : now);
      e.since = st.length && st[0].timestamp ? st[0].timestamp : firstSeen.get(e.key);
    });
    // Newest first.
    out.sort(function (a, b) {
      return b.since - a.since || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
    });
    return out;
  }

  function frameworkName(fw) { return fw.name || fw.id; }

  // -- rendering ---------------------------------------------------------------
  function render() {
    var s = state;
    setText($('master'), (s.hostname || '') + ' · ' + (s.pid || '') + ' · Mesos ' + (s.version || ''));
    var tasks = allTasks(s);
    renderSummary(s, tasks);
    renderFrameworks(s, tasks);
    renderTasks(s, tasks);
    renderAgents(s, tasks);
    renderSandbox(tasks);
  }

  function sumResources(list, field) {
    var t = { cpus: 0, mem: 0, disk: 0, gpus: 0, ports: 0 };
    list.forEach(function (x) {
      var r = x[field] || {};
      t.cpus += r.cpus || 0; t.mem += r.mem || 0; t.disk += r.disk || 0; t.gpus += r.gpus || 0;
      t.ports += portCount(r.ports);
    });
    return t;
  }

  function renderSummary(s, tasks) {
    var slaves = s.slaves || [];
    syncPairs($('sum-agents'), [
      ['agents', slaves.length],
      ['active', slaves.filter(function (a) { return a.active; }).length],
      ['deactivated', slaves.filter(function (a) { return !a.active; }).length]
    ]);
    var total = sumResources(slaves, 'resources');
    var used = sumResources(slaves, 'used_resources');
    var offered = sumResources(slaves, 'offered_resources');
    var rows = [['cpus', round], ['mem', fmtMB], ['disk', fmtMB], ['gpus', round], ['ports', String]]
      .filter(function (r) { return r[0] !== 'gpus' || total.gpus; })
      .map(function (r) {
        var k = r[0], f = r[1];
        return [k, f(total[k]), f(used[k]), f(offered[k]), f(Math.max(0, total[k] - used[k] - offered[k]))];
      });
    syncChildren($('sum-resources').tBodies[0], rows, function (r) { return r[0]; }, function (r) {
      var tr = h('tr');
      tr.appendChild(h('th', null, r[0]));
      for (var i = 1; i < 5; i++) tr.appendChild(h('td', 'num'));
      return tr;
    }, function (tr, r) {
      for (var i = 1; i < 5; i++) setText(tr.children[i], r[i]);
    });
    var fws = s.frameworks || [];
    syncPairs($('sum-frameworks'), [
      ['active', fws.filter(function (f) { return f.active; }).length],
      ['inactive', fws.filter(function (f) { return !f.active; }).length],
      ['completed', (s.completed_frameworks || []).length]
    ]);
    var counts = {};
    tasks.forEach(function (e) { counts[e.t.state] = (counts[e.t.state] || 0) + 1; });
    var pairs = Object.keys(counts).sort().map(function (k) { return [k, counts[k]]; });
    pairs.unshift(['all', tasks.length]);
    syncPairs($('sum-tasks'), pairs);
  }

  function stateBadge() { return h('span', 'state'); }
  function setState(node, st) { setText(node, st); setClass(node, 'state ' + st); }

  function renderFrameworks(s, tasks) {
    var list = (s.frameworks || []).map(function (f) { return { f: f, completed: false }; })
      .concat((s.completed_frameworks || []).map(function (f) { return { f: f, completed: true }; }));
    var byFw = {};
    tasks.forEach(function (e) { (byFw[e.fw.id] = byFw[e.fw.id] || []).push(e); });
    show($('no-frameworks'), list.length === 0);
    syncChildren($('framework-rows'), list, function (x) { return x.f.id; }, function (x) {
      var tr = h('tr', 'framework');
      tr.setAttribute('data-framework-id', x.f.id);
      ['name', 'id', 'roles', 'user', 'status', 'registered', 'reregistered', 'used'].forEach(function (c) {
        tr.appendChild(h('td', c === 'id' ? 'id' : c));
      });
      var td = h('td', 'fw-tasks');
      td.appendChild(h('ul', 'compact'));
      var more = h('button', 'link');
      more.type = 'button';
      more.addEventListener('click', function () {
        $('filter-framework').value = x.f.id;
        render();
        $('tasks').scrollIntoView();
      });
      td.appendChild(more);
      tr.appendChild(td);
      return tr;
    }, function (tr, x) {
      var f = x.f, c = tr.children;
      setText(c[0], frameworkName(f));
      setText(c[1], f.id);
      setText(c[2], f.roles ? f.roles.join(', ') : (f.role || '*'));
      setText(c[3], f.user);
      setText(c[4], x.completed ? 'completed' : !f.active ? 'inactive' : f.connected ? 'active' : 'disconnected');
      setText(c[5], fmtTime(f.registered_time));
      setText(c[6], fmtTime(f.reregistered_time));
      setText(c[7], fmtResources(f.used_resources));
      var mine = byFw[f.id] || [];
      syncList(c[8].firstChild, mine.slice(0, 5), function (e) { return e.key; }, function (li, e) {
        if (!li.firstChild) { li.appendChild(h('span', 'id')); li.appendChild(document.createTextNode(' ')); li.appendChild(stateBadge()); }
        setText(li.firstChild, e.t.id);
        setState(li.lastChild, e.t.state);
      });
      setText(c[8].lastChild, mine.length ? 'show its ' + mine.length + ' task' + (mine.length > 1 ? 's' : '') : '');
    });
    syncOptions($('filter-framework'), list.map(function (x) {
      return [x.f.id, frameworkName(x.f) + ' (' + shortId(x.f.id) + ')'];
    }));
  }

  // Keeps a <select>'s options after the first ("all"), and its choice.
  function syncOptions(select, pairs) {
    var chosen = select.value;
    if (chosen && !pairs.some(function (p) { return p[0] === chosen; })) pairs.push([chosen, chosen]);
    syncChildren(select, pairs, function (p) { return p[0]; }, function (p) {
      var o = h('option');
      o.value = p[0];
      return o;
    }, function (o, p) { setText(o, p[1]); }, select.firstChild);
    if (select.value !== chosen) select.value = chosen;
  }

  function lastUpdate(t) {
    var st = t.statuses || [];
    var last = st[st.length - 1];
    if (!last) return '';
    return [last.reason, last.message].filter(Boolean).join(': ');
  }

  function sandboxHref(e) {
    var q = new URLSearchParams({ fw: e.fw.id, task: e.t.id });
    return '#/sandbox?' + q.toString();
  }

  function agentName(s, id) {
    var a = (s.slaves || []).filter(function (x) { return x.id === id; })[0];
    return a ? a.hostname + ' (' + shortId(id) + ')' : shortId(id);
  }

  function renderTasks(s, tasks) {
    var fState = $('filter-state').value, fFw = $('filter-framework').value;
    var states = {};
    tasks.forEach(function (e) { states[e.t.state] = true; });
    syncOptions($('filter-state'), Object.keys(states).sort().map(function (k) { return [k, k]; }));
    var shown = tasks.filter(function (e) {
      return (!fState || e.t.state === fState) && (!fFw || e.fw.id === fFw);
    });
    setText($('task-count'), shown.length + ' of ' + tasks.length);
    show($('no-tasks'), shown.length === 0);
    syncChildren($('task-rows'), shown, function (e) { return e.key; }, function (e) {
      var tr = h('tr', 'task');
      tr.setAttribute('data-task-id', e.t.id);
      tr.appendChild(h('td', 'id task-id'));
      tr.appendChild(h('td', 'task-name'));
      tr.appendChild(h('td', 'task-framework'));
      tr.appendChild(h('td', 'task-agent'));
      var st = h('td'); st.appendChild(stateBadge()); tr.appendChild(st);
      var hist = h('td'); hist.appendChild(h('ol', 'history')); tr.appendChild(hist);
      tr.appendChild(h('td', 'task-resources'));
      tr.appendChild(h('td', 'task-message'));
      var sb = h('td'); var a = h('a', 'sandbox-link', 'sandbox'); sb.appendChild(a); tr.appendChild(sb);
      return tr;
    }, function (tr, e) {
      var c = tr.children, t = e.t;
      setText(c[0], t.id);
      setText(c[1], t.name);
      setText(c[2], frameworkName(e.fw));
      setText(c[3], agentName(s, t.slave_id));
      setState(c[4].firstChild, t.state);
      var hist = (t.statuses || []).map(function (x, i) { return { i: i, x: x }; });
      syncList(c[5].firstChild, hist, function (y) { return y.i; }, function (li, y) {
        setText(li, y.x.state + ' ' + fmtClock(y.x.timestamp));
      });
      setText(c[6], fmtResources(t.resources));
      setText(c[7], lastUpdate(t));
      setAttr(c[8].firstChild, 'href', sandboxHref(e));
    });
  }

  function renderAgents(s, tasks) {
    var byAgent = {};
    tasks.forEach(function (e) {
      if (!isTerminal(e.t.state)) (byAgent[e.t.slave_id] = byAgent[e.t.slave_id] || []).push(e);
    });
    syncChildren($('agent-rows'), s.slaves || [], function (a) { return a.id; }, function (a) {
      var tr = h('tr', 'agent');
      tr.setAttribute('data-agent-id', a.id);
      ['id', 'host', 'status', 'total', 'used'].forEach(function (c) { tr.appendChild(h('td', c === 'id' ? 'id' : c)); });
      var ex = h('td'); ex.appendChild(h('ul', 'compact')); tr.appendChild(ex);
      var ts = h('td'); ts.appendChild(h('ul', 'compact')); tr.appendChild(ts);
      return tr;
    }, function (tr, a) {
      var c = tr.children;
      setText(c[0], a.id);
      setText(c[1], a.hostname + ':' + a.port);
      setText(c[2], a.active ? 'active' : 'deactivated');
      setText(c[3], fmtResources(a.resources));
      setText(c[4], fmtResources(a.used_resources));
      var execs = [];
      var as = agentStates.get(a.id);
      ((as && as.frameworks) || []).forEach(function (f) {
        (f.executors || []).forEach(function (x) {
          execs.push({ key: f.id + '\u0000' + x.id, text: x.id + ' (' + (frameworkName(f)) + ', ' +
            (x.tasks || []).length + ' running)' });
        });
      });
      syncList(c[5].firstChild, execs, function (x) { return x.key; }, function (li, x) { setText(li, x.text); });
      syncList(c[6].firstChild, byAgent[a.id] || [], function (e) { return e.key; }, function (li, e) {
        if (!li.firstChild) { li.appendChild(h('span', 'id')); li.appendChild(document.createTextNode(' ')); li.appendChild(stateBadge()); }
        setText(li.firstChild, e.t.id);
        setState(li.lastChild, e.t.state);
      });
    });
  }

  // -- sandbox --------------------------------------------------------------------
  var sandbox = {
    key: null,       // the task shown
    root: null,      // its sandbox's path
    dir: '',         // the directory listed, relative to root
    file: null,      // the file shown, relative to root
    tail: null,      // the file being followed
    listing: 0,      // when the listing was last read
    listingBusy: false
  };

  function route() {
    var hash = location.hash || '#/';
    var m = /^#\/sandbox\?(.*)$/.exec(hash);
    if (!m) {
      show($('dashboard'), true);
      show($('sandbox'), false);
      stopTail();
      sandbox.key = null;
      return;
    }
    var q = new URLSearchParams(m[1]);
    var key = (q.get('fw') || '') + '\u0000' + (q.get('task') || '');
    if (key !== sandbox.key) { sandbox.root = null; sandbox.key = key; }
    sandbox.dir = q.get('dir') || '';
    var file = q.get('file');
    if (file !== sandbox.file || !file) stopTail();
    sandbox.file = file;
    sandbox.listing = 0;
    show($('dashboard'), false);
    show($('sandbox'), true);
    if (state) render();
  }

  function sandboxLink(extra) {
    var m = /^#\/sandbox\?(.*)$/.exec(location.hash);
    var q = new URLSearchParams(m ? m[1] : '');
    q.delete('dir'); q.delete('file');
    Object.keys(extra).forEach(function (k) { if (extra[k]) q.set(k, extra[k]); });
    return '#/sandbox?' + q.toString();
  }

  // The task's sandbox: the executor's directory as its agent reports it,
  // or the executor's latest run (Mesos's virtual path).
  function sandboxRoot(e) {
    var exec = e.t.executor_id || e.t.id;
    var a = agentStates.get(e.t.slave_id);
    var found = null;
    if (a) {
      (a.frameworks || []).concat(a.completed_frameworks || []).forEach(function (f) {
        if (f.id !== e.fw.id) return;
        (f.executors || []).concat(f.completed_executors || []).forEach(function (x) {
          if (x.id === exec && x.directory) found = x.directory;
        });
      });
    }
    return found || '/frameworks/' + e.fw.id + '/executors/' + exec + '/runs/latest';
  }

  function joinPath(a, b) { return b ? a.replace(/\/+$/, '') + '/' + b : a; }

  function renderSandbox(tasks) {
    if (sandbox.key === null) return;
    var e = tasks.filter(function (x) { return x.key === sandbox.key; })[0];
    var err = $('sb-error');
    if (!e) {
      setText(err, 'This task is not known to the master (any more).');
      show(err, true);
      return;
    }
    if (!sandbox.root) sandbox.root = sandboxRoot(e);
    setText($('sb-task'), e.t.id + (e.t.name && e.t.name !== e.t.id ? ' (' + e.t.name + ')' : ''));
    setText($('sb-framework'), frameworkName(e.fw));
    setText($('sb-agent'), agentName(state, e.t.slave_id));
    setState($('sb-state'), e.t.state);
    setText($('sb-root'), sandbox.root);
    setText($('sb-dir'), '/' + sandbox.dir);
    var now = Date.now();
    if (!sandbox.listingBusy && now - sandbox.listing > 1000) {
      sandbox.listing = now;
      sandbox.listingBusy = true;
      var key = sandbox.key, dir = sandbox.dir;
      var path = joinPath(sandbox.root, dir);
      getJSON('/files/browse?path=' + encodeURIComponent(path)).then(function (entries) {
        if (sandbox.key !== key || sandbox.dir !== dir) return;
        show(err, false);
        renderListing(path, entries);
        if (!sandbox.file && !dir && entries.some(function (x) { return x.path === joinPath(path, 'stdout'); })) {
          location.replace(sandboxLink({ file: 'stdout' }));
        }
      }).catch(function (ex) {
        if (sandbox.key !== key) return;
        setText(err, 'Cannot list the sandbox: ' + ex.message);
        show(err, true);
      }).then(function () { sandbox.listingBusy = false; });
    }
    renderFile(e);
  }

  function renderListing(base, entries) {
    var rows = entries.slice();
    if (sandbox.dir) rows.unshift({ up: true, path: '..' });
    syncChildren($('sb-files'), rows, function (x) { return x.path; }, function (x) {
      var tr = h('tr', 'file');
      var name = h('td'); name.appendChild(h('a', 'path')); tr.appendChild(name);
      tr.appendChild(h('td', 'path'));
      tr.appendChild(h('td', 'num'));
      tr.appendChild(h('td'));
      var dl = h('td'); dl.appendChild(h('a', 'download')); tr.appendChild(dl);
      return tr;
    }, function (tr, x) {
      var c = tr.children, link = c[0].firstChild, dl = c[4].firstChild;
      if (x.up) {
        setText(link, '..');
        setAttr(link, 'href', sandboxLink({ dir: sandbox.dir.replace(/\/?[^/]*$/, '') }));
        dl.hidden = true;
        return;
      }
      var name = x.path.slice(base.replace(/\/+$/, '').length + 1);
      var rel = sandbox.dir ? sandbox.dir + '/' + name : name;
      var isDir = x.mode.charAt(0) === 'd';
      setText(link, name + (isDir ? '/' : ''));
      setAttr(link, 'href', isDir ? sandboxLink({ dir: rel }) : sandboxLink({ dir: sandbox.dir, file: rel }));
      setText(c[1], x.mode);
      setText(c[2], isDir ? '' : fmtBytes(x.size));
      setText(c[3], fmtTime(x.mtime));
      setText(dl, isDir ? '' : 'download');
      dl.hidden = isDir;
      if (!isDir) setAttr(dl, 'href', '/files/download?path=' + encodeURIComponent(x.path));
    });
  }

  function stopTail() {
    if (sandbox.tail) sandbox.tail.stopped = true;
    sandbox.tail = null;
  }

  function renderFile(e) {
    var pre = $('file-view'), dl = $('sb-download');
    if (!sandbox.file) {
      setText($('sb-file-name'), '');
      setText($('sb-follow'), '');
      show(dl, false);
      return;
    }
    var path = joinPath(sandbox.root, sandbox.file);
    setText($('sb-file-name'), sandbox.file);
    setAttr(dl, 'href', '/files/download?path=' + encodeURIComponent(path));
    show(dl, true);
    if (!sandbox.tail) {
      while (pre.firstChild) pre.removeChild(pre.firstChild);
      pre.appendChild(document.createTextNode(''));
      sandbox.tail = { path: path, offset: -1, busy: false, stopped: false, done: false, node: pre.firstChild };
    }
    var tail = sandbox.tail;
    var ended = isTerminal(e.t.state);
    setText($('sb-follow'), tail.done ? '(complete)' : ended ? '(task ended)' : '(following)');
    if (!tail.busy && !tail.done) {
      tail.busy = true;
      step(tail).then(function () {
        // One last look after the task ended, then the file is complete.
        if (ended && !tail.stopped) tail.done = true;
      }).catch(function (ex) {
        if (!tail.stopped) tail.node.appendData('\n[cannot read ' + sandbox.file + ': ' + ex.message + ']\n');
        tail.done = true;
      }).then(function () { tail.busy = false; });
    }
  }

  // Reads what the file gained since the last look: its size first, then
  // that many bytes in chunks, appended as text.
  function step(tail) {
    var url = '/files/read?path=' + encodeURIComponent(tail.path);
    return getJSON(url + '&offset=-1').then(function (r) {
      if (tail.stopped) return null;
      var size = r.offset;
      if (tail.offset < 0) {
        tail.offset = Math.max(0, size - TAIL_START);
        if (tail.offset > 0) tail.node.appendData('[… ' + fmtBytes(tail.offset) + ' earlier]\n');
      } else if (size < tail.offset) {
        tail.node.appendData('\n[file truncated]\n');
        tail.offset = 0;
      }
      function more() {
        if (tail.stopped || tail.offset >= size) return null;
        var len = Math.min(READ_MAX, size - tail.offset);
        return getJSON(url + '&offset=' + tail.offset + '&length=' + len).then(function (d) {
          if (tail.stopped) return null;
          var pre = $('file-view');
          var atBottom = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 24;
          tail.node.appendData(d.data);
          tail.offset += len;
          if (atBottom) pre.scrollTop = pre.scrollHeight;
          return more();
        });
      }
      return more();
    });
  }

  // -- start -----------------------------------------------------------------------
  function start() {
    ['filter-state', 'filter-framework'].forEach(function (id) {
      $(id).addEventListener('change', function () { if (state) render(); });
    });
    Array.prototype.forEach.call(document.querySelectorAll('nav a[data-jump]'), function (a) {
      a.addEventListener('click', function (ev) {
        ev.preventDefault();
        if (location.hash && location.hash !== '#/') location.hash = '#/';
        var target = $(a.getAttribute('data-jump'));
        if (target) target.scrollIntoView();
      });
    });
    window.addEventListener('hashchange', route);
    route();
    poll();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
}());
