//! VM definitions for a service VM: OpenXT (xec-vm script and template
//! JSON), xl.cfg and libvirt domain XML.
