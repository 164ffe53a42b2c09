'use strict';
// The one request handler every contender serves, so they differ only in how connections reach it.
module.exports = function handler(req, res) {
  res.end('hello\n');
};
